//! Lists (table `list_items`): the shopping list and named to-do lists.
//! Names and items compare without case ("Milk" is "milk").

use super::*;

/// One item of a list.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow, utoipa::ToSchema)]
pub struct ListItem {
    pub id: i64,
    pub list: String,
    pub item: String,
    pub complete: bool,
    pub created_at: i64,
    pub completed_at: Option<i64>,
}

impl Store {
    pub async fn add_list_item(&self, list: &str, item: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("INSERT INTO list_items (list, item, created_at) VALUES (?, ?, ?) RETURNING id")
            .bind(list)
            .bind(item)
            .bind(now_ms())
            .fetch_one(&self.pool)
            .await?)
    }

    /// Check off the oldest open item of that name; false if there is none.
    pub async fn complete_list_item(&self, list: &str, item: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE list_items SET complete = 1, completed_at = ?1 WHERE id = (
                SELECT id FROM list_items
                WHERE list = ?2 COLLATE NOCASE AND item = ?3 COLLATE NOCASE AND complete = 0
                ORDER BY id LIMIT 1)",
        )
        .bind(now_ms())
        .bind(list)
        .bind(item)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Remove the oldest item of that name (open ones first); false if none.
    pub async fn remove_list_item(&self, list: &str, item: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "DELETE FROM list_items WHERE id = (
                SELECT id FROM list_items
                WHERE list = ?1 COLLATE NOCASE AND item = ?2 COLLATE NOCASE
                ORDER BY complete, id LIMIT 1)",
        )
        .bind(list)
        .bind(item)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Items of one list (any case of its name) or of every list, by list
    /// then age.
    pub async fn list_items(&self, list: Option<&str>) -> Result<Vec<ListItem>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, list, item, complete, created_at, completed_at FROM list_items
             WHERE ?1 IS NULL OR list = ?1 COLLATE NOCASE ORDER BY list COLLATE NOCASE, id",
        )
        .bind(list)
        .fetch_all(&self.pool)
        .await?)
    }
}
