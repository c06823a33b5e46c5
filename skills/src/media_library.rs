//! The home's media library (`[[media]]` in the config): what
//! `HassMediaSearchAndPlay` ("play jazz radio in the kitchen", "play the
//! playlist dinner party on the living room speaker") searches.
//!
//! Home Assistant asks each player's integration to search its sources;
//! an MQTT player has no search, so hubd keeps the list itself: each item
//! a name people say (plus aliases), Home Assistant's media class, and the
//! id the player is sent (`media_content_id`, usually a URL).
use serde::{Deserialize, Serialize};

use crate::lookup::fold;

/// Home Assistant's media classes (`MediaClass`), the values an item's
/// `class` may take.
pub const MEDIA_CLASSES: &[&str] = &[
    "album",
    "app",
    "artist",
    "channel",
    "composer",
    "contributing_artist",
    "directory",
    "episode",
    "game",
    "genre",
    "image",
    "movie",
    "music",
    "playlist",
    "podcast",
    "season",
    "track",
    "tv_show",
    "url",
    "video",
];

/// One playable item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaItem {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// One of [`MEDIA_CLASSES`].
    pub class: String,
    /// Sent to the player as `media_content_id`.
    pub id: String,
}

/// How well `query` (already folded) matches `name`: 3 the same words,
/// 2 every query word is in the name ("jazz" → "Jazz Radio"), 1 every name
/// word is in the query ("some jazz radio please"), else 0.
fn score(query: &[&str], name: &str) -> u8 {
    let name = fold(name);
    let words: Vec<&str> = name.split(' ').filter(|w| !w.is_empty()).collect();
    if words.is_empty() {
        0
    } else if words == query {
        3
    } else if query.iter().all(|q| words.contains(q)) {
        2
    } else if words.iter().all(|w| query.contains(w)) {
        1
    } else {
        0
    }
}

/// Words a request puts around a title ("play *the* Beatles", "play *some*
/// jazz"): dropped from the query when the title itself lacks them.
const FILLERS: &[&str] = &["the", "a", "an", "some", "my", "our", "me"];

/// The best item for `query`, of `class` when given (Home Assistant's
/// `media_class` slot: `artist`, `album`, `track`, `playlist`, `podcast`,
/// `movie`, `tv_show`). The earliest item wins a tie.
pub fn search<'a>(items: &'a [MediaItem], query: &str, class: Option<&str>) -> Option<&'a MediaItem> {
    let folded = fold(query);
    let all: Vec<&str> = folded.split(' ').filter(|w| !w.is_empty()).collect();
    let content: Vec<&str> = all.iter().copied().filter(|w| !FILLERS.contains(w)).collect();
    if content.is_empty() {
        return None;
    }
    let mut best: Option<(u8, &MediaItem)> = None;
    for item in items.iter().filter(|i| class.is_none_or(|c| i.class.eq_ignore_ascii_case(c))) {
        let s = std::iter::once(&item.name)
            .chain(&item.aliases)
            .map(|n| score(&all, n).max(score(&content, n)))
            .max()
            .unwrap_or(0);
        if s > 0 && best.is_none_or(|(b, _)| s > b) {
            best = Some((s, item));
        }
    }
    best.map(|(_, i)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str, aliases: &[&str], class: &str) -> MediaItem {
        MediaItem {
            name: name.into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            class: class.into(),
            id: format!("http://media.local/{}", fold(name).replace(' ', "-")),
        }
    }

    #[test]
    fn finds_by_name_alias_and_class() {
        let lib = vec![
            item("Jazz Radio", &["smooth jazz"], "channel"),
            item("Dinner Party", &[], "playlist"),
            item("The Beatles", &[], "artist"),
            item("Abbey Road", &[], "album"),
            item("Jazz Classics", &[], "playlist"),
        ];
        let name = |q: &str, c: Option<&str>| search(&lib, q, c).map(|i| i.name.as_str());
        assert_eq!(name("jazz radio", None), Some("Jazz Radio"));
        assert_eq!(name("Smooth Jazz!", None), Some("Jazz Radio"), "an alias");
        assert_eq!(name("jazz", None), Some("Jazz Radio"), "a word of the name; the first item wins a tie");
        assert_eq!(name("jazz", Some("playlist")), Some("Jazz Classics"), "the class said narrows it");
        assert_eq!(name("beatles", None), Some("The Beatles"));
        assert_eq!(name("the beatles", Some("artist")), Some("The Beatles"));
        assert_eq!(name("some dinner party music", None), Some("Dinner Party"), "the name inside the request");
        assert_eq!(name("abbey road", Some("artist")), None, "an album is not an artist");
        assert_eq!(name("heavy metal", None), None);
        assert_eq!(name("the", None), None, "fillers alone find nothing");
        assert_eq!(name("", None), None);
    }
}
