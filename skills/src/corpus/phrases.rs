//! Built-in English text the language data does not have.
//!
//! - [`NONE_PHRASES`]: questions and chit-chat that are not about the home,
//!   so the intent head learns a `none` class.
//! - [`FALLBACK_TEMPLATES`]: sentence templates (same syntax as the
//!   language data) for handled intents an English language file has no
//!   sentences for (`HassToggle` is not in home-assistant-intents' `en`).
//!   They are used only when the language itself has none for the intent.

/// Not about the home: the `none` class.
pub(crate) const NONE_PHRASES: &[&str] = &[
    "what is the capital of france",
    "tell me a joke",
    "how are you today",
    "who won the football game last night",
    "what's the meaning of life",
    "how tall is mount everest",
    "who wrote pride and prejudice",
    "what time does the bakery open",
    "sing me a song",
    "how do you make pancakes",
    "what is two plus two",
    "do you like pizza",
    "what's your name",
    "thank you",
    "good morning",
    "good night",
    "i'm bored",
    "how far away is the moon",
    "translate hello into spanish",
    "what is the population of japan",
    "which country has the most islands",
    "recommend a good book",
    "what should i cook for dinner",
    "how many legs does a spider have",
    "why is the sky blue",
    "are you a robot",
    "what day is it tomorrow",
    "spell the word necessary",
    "how old is the universe",
    "what does photosynthesis mean",
    "who painted the mona lisa",
    "tell me something interesting",
    "i had a long day at work",
    "my sister is visiting next week",
    "the weather was lovely yesterday",
    "did you watch the match",
    "what is the best programming language",
    "how do i get to the train station",
    "call me a taxi",
    "order more coffee beans",
    "what rhymes with orange",
    "the cat knocked over a glass",
    "is it a good idea to learn the piano",
    "how many minutes are in a day",
    "what's the square root of sixty four",
];

/// `(intent, templates)` for handled intents missing from the language.
pub(crate) const FALLBACK_TEMPLATES: &[(&str, &[&str])] = &[(
    "HassToggle",
    &[
        "toggle [the] {name}",
        "flip [the] {name}",
        "toggle [the] {name} in [the] {area}",
        "toggle [the] {area} {name}",
        "[please] toggle [the] lights in [the] {area}",
    ],
)];
