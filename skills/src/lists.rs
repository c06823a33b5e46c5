//! The list intents (Home Assistant's shopping list and to-do list
//! intents) as operations on a named list the hub keeps in SQLite.

use serde_json::Value;

use crate::Understanding;
use crate::handlers::SkillError;
use crate::intent::Intent;

/// The list `HassShoppingList*` intents address.
pub const SHOPPING_LIST: &str = "Shopping List";

/// What to do to which list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListOp {
    Add {
        list: String,
        item: String,
    },
    /// Check an item off (it stays, marked complete).
    Complete {
        list: String,
        item: String,
    },
    Remove {
        list: String,
        item: String,
    },
}

impl ListOp {
    /// The operation a list intent asks for; `None` for other intents.
    pub fn from_understanding(u: &Understanding) -> Result<Option<ListOp>, SkillError> {
        let named = || u.slots.name_text().map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
        let (list, make): (String, fn(String, String) -> ListOp) = match &u.intent {
            Intent::HassShoppingListAddItem => (SHOPPING_LIST.into(), |list, item| ListOp::Add { list, item }),
            Intent::HassShoppingListCompleteItem => {
                (SHOPPING_LIST.into(), |list, item| ListOp::Complete { list, item })
            }
            Intent::HassListAddItem => (need(u, named())?, |list, item| ListOp::Add { list, item }),
            Intent::HassListCompleteItem => (need(u, named())?, |list, item| ListOp::Complete { list, item }),
            Intent::HassListRemoveItem => (need(u, named())?, |list, item| ListOp::Remove { list, item }),
            _ => return Ok(None),
        };
        let item = match u.slots.other.get("item") {
            Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= MAX_ITEM_CHARS => {
                s.trim().to_string()
            }
            Some(v) => {
                return Err(SkillError::BadSlot {
                    slot: "item",
                    value: v.to_string(),
                    reason: format!("an item is 1 to {MAX_ITEM_CHARS} characters of text"),
                });
            }
            None => return Err(SkillError::MissingSlot { intent: u.intent.clone(), slot: "item" }),
        };
        Ok(Some(make(list, item)))
    }

    pub fn list(&self) -> &str {
        match self {
            ListOp::Add { list, .. } | ListOp::Complete { list, .. } | ListOp::Remove { list, .. } => list,
        }
    }

    pub fn item(&self) -> &str {
        match self {
            ListOp::Add { item, .. } | ListOp::Complete { item, .. } | ListOp::Remove { item, .. } => item,
        }
    }

    /// Home Assistant's English reply when it worked.
    pub fn reply(&self) -> String {
        match self {
            ListOp::Add { item, .. } => format!("Added {item}."),
            ListOp::Complete { item, .. } => format!("Checked off {item}."),
            ListOp::Remove { item, .. } => format!("Removed {item}."),
        }
    }

    /// The reply when the item is not on the list.
    pub fn not_found_reply(&self) -> String {
        format!(
            "Sorry, {} is not on the {} list.",
            self.item(),
            crate::reply::lower(self.list()).trim_end_matches(" list")
        )
    }
}

/// The longest item accepted.
pub const MAX_ITEM_CHARS: usize = 200;

fn need(u: &Understanding, name: Option<String>) -> Result<String, SkillError> {
    name.ok_or(SkillError::MissingSlot { intent: u.intent.clone(), slot: "name" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Source;
    use crate::slots::Slots;
    use serde_json::json;

    fn u(intent: &str, slots: &[(&str, Value)]) -> Understanding {
        Understanding {
            text: String::new(),
            intent: Intent::from_name(intent),
            slots: Slots::from_map(slots.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()),
            entities: vec![],
            candidates: vec![],
            confidence: 1.0,
            source: Source::Template,
            response: None,
        }
    }

    #[test]
    fn list_intents_become_operations() {
        let add = ListOp::from_understanding(&u("HassShoppingListAddItem", &[("item", json!(" milk "))])).unwrap();
        assert_eq!(add, Some(ListOp::Add { list: SHOPPING_LIST.into(), item: "milk".into() }));
        assert_eq!(add.unwrap().reply(), "Added milk.");
        let done = ListOp::from_understanding(&u(
            "HassListCompleteItem",
            &[("item", json!("eggs")), ("name", json!("Groceries"))],
        ));
        let done = done.unwrap().unwrap();
        assert_eq!(done, ListOp::Complete { list: "Groceries".into(), item: "eggs".into() });
        assert_eq!(done.not_found_reply(), "Sorry, eggs is not on the groceries list.");
        assert!(ListOp::from_understanding(&u("HassListAddItem", &[("item", json!("eggs"))])).is_err(), "no list");
        assert!(ListOp::from_understanding(&u("HassShoppingListAddItem", &[("item", json!(""))])).is_err());
        assert!(ListOp::from_understanding(&u("HassShoppingListAddItem", &[])).is_err());
        assert_eq!(ListOp::from_understanding(&u("HassTurnOn", &[])).unwrap(), None);
    }
}
