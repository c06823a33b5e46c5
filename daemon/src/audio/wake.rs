//! Wake-word filter on transcripts.
//!
//! Pure: a transcript and `now` go in, a [`WakeDecision`] comes out. The
//! wake phrase is matched on the *text* Whisper produced (there is no
//! separate keyword-spotting model): case, punctuation and spacing are
//! ignored, and the phrase may be preceded by at most [`MAX_LEADING_WORDS`]
//! words ("okay, hey hub ..."). Spellings Whisper uses interchangeably
//! match each other ("okay" = "ok" = "o.k."; see [`canonical`]). A command
//! that ends with a separate sentence holding only the start of a wake
//! phrase ("turn on the light. Okay") loses that fragment: on short windows
//! Whisper tends to continue with the next wake phrase it expects from the
//! prompt, and it is never part of the command. After a wake phrase (with
//! or without a command) a follow-up window opens: utterances inside it are
//! commands without repeating the phrase. `wake = "none"` (push-to-talk
//! devices) passes every non-empty transcript.
use std::time::{Duration, Instant};

/// Words allowed before the wake phrase.
pub const MAX_LEADING_WORDS: usize = 1;
/// How long a question ("Which timer?") waits for its answer.
pub const QUESTION_WINDOW: Duration = Duration::from_secs(8);

/// What to do with one transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WakeDecision {
    /// Act on this text (the wake phrase and what preceded it removed).
    Command { text: String, via: WakeVia },
    /// Only the wake phrase was said; the follow-up window is now open.
    WakeOnly,
    /// No wake phrase and no open window.
    Ignored,
    /// Nothing but punctuation, whitespace or Whisper's non-speech markers.
    Empty,
    /// A stop phrase ("stop", "never mind"), after the wake phrase or in the
    /// follow-up window: the window is closed and nothing is done.
    Stop,
}

/// Why a command was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeVia {
    Phrase,
    FollowUp,
    /// `wake = "none"`.
    Always,
}

#[derive(Debug, Clone)]
pub struct WakeFilter {
    /// Normalised phrases (each a list of words); empty = no wake word.
    phrases: Vec<Vec<String>>,
    follow_up: Duration,
    open_until: Option<Instant>,
    /// Normalised stop phrases.
    stops: Vec<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WakeError {
    #[error("audio wake phrase {0:?} has no words (use \"none\" to disable the wake word)")]
    EmptyPhrase(String),
}

/// A word and its byte range in the original text.
struct Word {
    norm: String,
    start: usize,
    end: usize,
}

/// One spelling for words Whisper writes several ways.
fn canonical(word: String) -> String {
    match word.as_str() {
        "okay" | "okey" | "o.k" | "o.k." => "ok".to_string(),
        _ => word,
    }
}

/// Lower-case alphanumeric words (apostrophes kept inside words, dots
/// inside abbreviations such as "o.k."), in [`canonical`] spelling.
fn words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    let mut end = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next_is_alnum = chars.peek().is_some_and(|&(_, n)| n.is_alphanumeric());
        let joins = !cur.is_empty() && (c == '\'' || (c == '.' && (next_is_alnum || cur.contains('.'))));
        if c.is_alphanumeric() || joins {
            if cur.is_empty() {
                start = i;
            }
            cur.extend(c.to_lowercase());
            end = i + c.len_utf8();
        } else if !cur.is_empty() {
            out.push(finish(std::mem::take(&mut cur), start, end));
        }
    }
    if !cur.is_empty() {
        out.push(finish(cur, start, end));
    }
    out
}

fn finish(raw: String, start: usize, end: usize) -> Word {
    let trimmed = raw.trim_end_matches('\'');
    let norm = canonical(trimmed.to_string());
    Word { norm, start, end }
}

/// Whisper's markers for non-speech, e.g. `[BLANK_AUDIO]`, `(music)`.
fn strip_markers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0u32;
    for c in text.chars() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

impl WakeFilter {
    /// `phrases` empty, or containing `"none"`, disables the wake word.
    pub fn new<S: AsRef<str>>(phrases: &[S], follow_up: Duration) -> Result<Self, WakeError> {
        let mut norm = Vec::new();
        for p in phrases {
            let p = p.as_ref();
            if p.trim().eq_ignore_ascii_case("none") {
                return Ok(Self::always());
            }
            let w: Vec<String> = words(p).into_iter().map(|w| w.norm).collect();
            if w.is_empty() {
                return Err(WakeError::EmptyPhrase(p.to_string()));
            }
            norm.push(w);
        }
        Ok(WakeFilter { phrases: norm, follow_up, open_until: None, stops: Vec::new() })
    }

    /// Utterances that close the follow-up window instead of acting.
    pub fn with_stop_phrases<S: AsRef<str>>(mut self, stops: &[S]) -> Self {
        self.stops = stops
            .iter()
            .map(|p| words(p.as_ref()).into_iter().map(|w| w.norm).collect::<Vec<_>>())
            .filter(|w| !w.is_empty())
            .collect();
        self
    }

    /// The whole utterance is a stop phrase, or one said again ("never
    /// mind, never mind"; Whisper also repeats short clips like that).
    fn is_stop(&self, text: &str) -> bool {
        let ws: Vec<String> = words(text).into_iter().map(|w| w.norm).collect();
        !ws.is_empty()
            && self
                .stops
                .iter()
                .any(|p| ws.len().is_multiple_of(p.len()) && ws.chunks(p.len()).all(|c| c == p.as_slice()))
    }

    /// No wake word: every transcript is a command.
    pub fn always() -> Self {
        WakeFilter { phrases: Vec::new(), follow_up: Duration::ZERO, open_until: None, stops: Vec::new() }
    }

    pub fn requires_wake(&self) -> bool {
        !self.phrases.is_empty()
    }

    /// True while a follow-up window is open at `now`.
    pub fn is_open(&self, now: Instant) -> bool {
        self.open_until.is_some_and(|t| now < t)
    }

    /// A reply ended at `end` (when it finished playing, or was shown): the
    /// window runs `follow_up` from there. A reply that asks a question
    /// keeps it open for at least [`QUESTION_WINDOW`], follow-ups or not.
    pub fn after_reply(&mut self, end: Instant, question: bool) {
        if self.phrases.is_empty() {
            return;
        }
        let len = if question { self.follow_up.max(QUESTION_WINDOW) } else { self.follow_up };
        if len.is_zero() || !(question || self.open_until.is_some()) {
            return;
        }
        let until = end + len;
        self.open_until = Some(self.open_until.map_or(until, |t| t.max(until)));
    }

    /// Close the follow-up window (e.g. after a reply that ends the dialogue).
    pub fn close(&mut self) {
        self.open_until = None;
    }

    pub fn decide(&mut self, transcript: &str, now: Instant) -> WakeDecision {
        let text = strip_markers(transcript);
        let ws = words(&text);
        if ws.is_empty() {
            return WakeDecision::Empty;
        }
        if self.phrases.is_empty() {
            return WakeDecision::Command { text: text.trim().to_string(), via: WakeVia::Always };
        }
        if let Some(end) = self.find_phrase(&ws) {
            self.open_until = Some(now + self.follow_up);
            let rest = text[end..].trim_start_matches(|c: char| !c.is_alphanumeric()).trim_end();
            let rest = self.drop_trailing_wake_fragment(rest);
            if self.is_stop(rest) {
                self.close();
                return WakeDecision::Stop;
            }
            return if words(rest).is_empty() {
                WakeDecision::WakeOnly
            } else {
                WakeDecision::Command { text: rest.to_string(), via: WakeVia::Phrase }
            };
        }
        if self.is_open(now) {
            if self.is_stop(&text) {
                self.close();
                return WakeDecision::Stop;
            }
            self.open_until = Some(now + self.follow_up);
            return WakeDecision::Command { text: text.trim().to_string(), via: WakeVia::FollowUp };
        }
        WakeDecision::Ignored
    }

    /// `rest` without a final sentence that is only the start of a wake
    /// phrase ("Turn on the light. Okay" -> "Turn on the light."). The
    /// fragment must follow sentence punctuation, so "... set it to ok" stays.
    fn drop_trailing_wake_fragment<'a>(&self, rest: &'a str) -> &'a str {
        let ws = words(rest);
        // Start of the last sentence: a word preceded by . ! or ? (`rest`
        // itself starts a sentence, right after the wake phrase).
        let Some(k) =
            (0..ws.len()).rev().find(|&k| k == 0 || rest[ws[k - 1].end..ws[k].start].contains(['.', '!', '?']))
        else {
            return rest;
        };
        let tail: Vec<&str> = ws[k..].iter().map(|w| w.norm.as_str()).collect();
        let is_prefix = self.phrases.iter().any(|p| tail.len() <= p.len() && p.iter().zip(&tail).all(|(a, b)| a == b));
        if is_prefix { rest[..ws[k].start].trim_end() } else { rest }
    }

    /// Heard while hubd was speaking (barge-in): true for a stop phrase
    /// alone or after the wake phrase ("okay home, stop"); that closes the
    /// follow-up window. Anything else over hubd's voice is not for us (it
    /// may be hubd's own echo), whatever the window.
    pub fn barge_in_stop(&mut self, transcript: &str) -> bool {
        let text = strip_markers(transcript);
        let ws = words(&text);
        let rest = self.find_phrase(&ws).map_or(text.as_str(), |end| &text[end..]);
        let stop = self.is_stop(rest);
        if stop {
            self.close();
        }
        stop
    }

    /// Byte offset just past the wake phrase, if it occurs within the first
    /// `MAX_LEADING_WORDS + 1` word positions.
    fn find_phrase(&self, ws: &[Word]) -> Option<usize> {
        for start in 0..=MAX_LEADING_WORDS.min(ws.len().saturating_sub(1)) {
            for p in &self.phrases {
                if ws.len() >= start + p.len() && ws[start..start + p.len()].iter().zip(p).all(|(w, pw)| &w.norm == pw)
                {
                    return ws.get(start + p.len() - 1).map(|w| w.end);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter() -> (WakeFilter, Instant) {
        (WakeFilter::new(&["hey hub", "okay home"], Duration::from_secs(8)).unwrap(), Instant::now())
    }

    /// Each `(input, command)` far apart in time, so no follow-up window
    /// carries over: the wake phrase must be found and `command` remain.
    fn expect_phrase_commands<I: AsRef<str>, E: AsRef<str>>(f: &mut WakeFilter, t: Instant, cases: &[(I, E)]) {
        for (i, (input, expected)) in cases.iter().enumerate() {
            let now = t + Duration::from_secs(100 * i as u64);
            assert_eq!(f.decide(input.as_ref(), now), cmd(expected.as_ref(), WakeVia::Phrase), "{}", input.as_ref());
        }
    }

    fn cmd(t: &str, via: WakeVia) -> WakeDecision {
        WakeDecision::Command { text: t.into(), via }
    }

    #[test]
    fn phrase_then_command_in_one_utterance() {
        let (mut f, t) = filter();
        let cases = [
            (" Hey hub, turn on the kitchen light.", "turn on the kitchen light."),
            ("hey HUB turn off the lamp", "turn off the lamp"),
            ("Okay home! Set the lamp to 50%.", "Set the lamp to 50%."),
            ("Oh, hey hub: what's the temperature?", "what's the temperature?"),
        ];
        expect_phrase_commands(&mut f, t, &cases);
    }

    #[test]
    fn no_phrase_is_ignored_and_phrase_later_in_sentence_does_not_count() {
        let (mut f, t) = filter();
        assert_eq!(f.decide("turn on the kitchen light", t), WakeDecision::Ignored);
        assert_eq!(f.decide("I told them hey hub turn on the light", t), WakeDecision::Ignored);
        // "hubby" is not "hub".
        assert_eq!(f.decide("hey hubby turn it on", t), WakeDecision::Ignored);
    }

    #[test]
    fn over_hubds_voice_only_a_stop_phrase_counts() {
        let (f, t) = filter();
        let mut f = f.with_stop_phrases(&["stop", "never mind"]);
        f.after_reply(t, true);
        assert!(f.is_open(t));
        for echo in ["Turned on the kitchen light.", "stop the music", "", "[BLANK_AUDIO]", "okay home"] {
            assert!(!f.barge_in_stop(echo), "{echo:?}");
        }
        assert!(f.is_open(t), "what is not a stop phrase leaves the window alone");
        for stop in ["Stop.", "stop, stop", "Never mind!", "Okay home, stop.", "hey hub never mind"] {
            f.after_reply(t, true);
            assert!(f.barge_in_stop(stop), "{stop:?}");
            assert!(!f.is_open(t), "{stop:?} closes the window");
        }
        // With no wake word, the stop phrases still cut hubd short.
        let mut always = WakeFilter::always().with_stop_phrases(&["cancel"]);
        assert!(always.barge_in_stop("Cancel."));
        assert!(!always.barge_in_stop("cancel the timer"));
    }

    #[test]
    fn a_stop_phrase_closes_the_window_without_acting() {
        let t0 = Instant::now();
        let mut f =
            WakeFilter::new(&["hey hub"], Duration::from_secs(8)).unwrap().with_stop_phrases(&["never mind", "stop"]);
        assert_eq!(f.decide("Hey hub.", t0), WakeDecision::WakeOnly);
        assert_eq!(f.decide("Never mind, never mind.", t0 + Duration::from_secs(1)), WakeDecision::Stop);
        assert!(!f.is_open(t0 + Duration::from_secs(2)));
        assert_eq!(f.decide("turn on the light", t0 + Duration::from_secs(2)), WakeDecision::Ignored);
        assert_eq!(f.decide("Hey hub, stop!", t0 + Duration::from_secs(3)), WakeDecision::Stop);
        // Only the whole utterance: "stop the fan" is a command.
        f.decide("hey hub", t0 + Duration::from_secs(4));
        let stop_the_fan = WakeDecision::Command { text: "stop the fan".into(), via: WakeVia::FollowUp };
        assert_eq!(f.decide("stop the fan", t0 + Duration::from_secs(5)), stop_the_fan);
        // Outside a window a stop phrase is just not for us.
        assert_eq!(f.decide("stop", t0 + Duration::from_secs(60)), WakeDecision::Ignored);
    }

    #[test]
    fn the_window_runs_from_the_end_of_the_spoken_reply_and_questions_open_one() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut f = WakeFilter::new(&["hey hub"], s(8)).unwrap();
        assert!(matches!(f.decide("hey hub turn on the light", t0), WakeDecision::Command { .. }));
        f.after_reply(t0 + s(5), false);
        assert!(f.is_open(t0 + s(12)), "8 s from the end of the reply, not from the command");
        assert!(!f.is_open(t0 + s(14)));
        // Without follow-ups only a question opens a window.
        let mut f = WakeFilter::new(&["hey hub"], Duration::ZERO).unwrap();
        assert!(matches!(f.decide("hey hub turn on the light", t0), WakeDecision::Command { .. }));
        f.after_reply(t0 + s(1), false);
        assert!(!f.is_open(t0 + s(2)));
        f.after_reply(t0 + s(1), true);
        assert!(f.is_open(t0 + s(8)) && !f.is_open(t0 + s(10)));
        let answer = WakeDecision::Command { text: "the kitchen timer".into(), via: WakeVia::FollowUp };
        assert_eq!(f.decide("the kitchen timer", t0 + s(3)), answer);
        // After a stop phrase a reply does not reopen it.
        let mut f = WakeFilter::new(&["hey hub"], s(8)).unwrap().with_stop_phrases(&["stop"]);
        assert_eq!(f.decide("hey hub stop", t0), WakeDecision::Stop);
        f.after_reply(t0 + s(1), false);
        assert!(!f.is_open(t0 + s(2)));
    }

    #[test]
    fn wake_only_opens_a_follow_up_window_which_expires() {
        let (mut f, t) = filter();
        assert_eq!(f.decide("Hey hub.", t), WakeDecision::WakeOnly);
        assert!(f.is_open(t + Duration::from_secs(7)));
        assert_eq!(
            f.decide("Turn on the kitchen light.", t + Duration::from_secs(3)),
            cmd("Turn on the kitchen light.", WakeVia::FollowUp)
        );
        // The command re-armed the window to t+3+8 = t+11.
        assert_eq!(f.decide("and the hallway", t + Duration::from_secs(10)), cmd("and the hallway", WakeVia::FollowUp));
        assert_eq!(f.decide("unrelated chatter", t + Duration::from_secs(19)), WakeDecision::Ignored);
        f.decide("hey hub", t + Duration::from_secs(30));
        f.close();
        assert_eq!(f.decide("turn it off", t + Duration::from_secs(31)), WakeDecision::Ignored);
    }

    #[test]
    fn ok_spellings_match_each_other() {
        let (mut f, t) = filter();
        let spellings = ["OK home", "Ok, home,", "O.K. home", "okey home"]
            .map(|w| (format!("{w} turn on the lamp."), "turn on the lamp."));
        expect_phrase_commands(&mut f, t, &spellings);
        let mut f = WakeFilter::new(&["ok computer"], Duration::ZERO).unwrap();
        assert_eq!(f.decide("Okay computer, lights off", t), cmd("lights off", WakeVia::Phrase));
    }

    #[test]
    fn trailing_wake_fragment_is_dropped_but_not_inside_a_sentence() {
        let (mut f, t) = filter();
        let cases = [
            ("Ok home turn off the kitchen light. ok", "turn off the kitchen light."),
            ("Ok home turn off the kitchen light. Okay home.", "turn off the kitchen light."),
            ("hey hub turn on the lamp. Hey!", "turn on the lamp."),
            // Not a wake-phrase start: kept.
            ("hey hub turn on the lamp. And the fan.", "turn on the lamp. And the fan."),
            // No sentence break: kept.
            ("hey hub set the mode to ok", "set the mode to ok"),
        ];
        expect_phrase_commands(&mut f, t, &cases);
        // Wake phrase, then only a fragment: the window opens, nothing to act on.
        assert_eq!(f.decide("Okay home. Okay", t + Duration::from_secs(900)), WakeDecision::WakeOnly);
    }

    #[test]
    fn empty_and_marker_only_transcripts() {
        let (mut f, t) = filter();
        assert_eq!(f.decide("", t), WakeDecision::Empty);
        assert_eq!(f.decide("  ... ", t), WakeDecision::Empty);
        assert_eq!(f.decide("[BLANK_AUDIO]", t), WakeDecision::Empty);
        assert_eq!(f.decide(" (music) ", t), WakeDecision::Empty);
        // An empty utterance does not open or use the window.
        assert!(!f.is_open(t));
    }

    #[test]
    fn none_passes_everything() {
        let mut f = WakeFilter::new(&["none"], Duration::from_secs(8)).unwrap();
        assert!(!f.requires_wake());
        let t = Instant::now();
        assert_eq!(f.decide(" Turn on the lamp. ", t), cmd("Turn on the lamp.", WakeVia::Always));
        assert_eq!(f.decide("[BLANK_AUDIO]", t), WakeDecision::Empty);
        let f = WakeFilter::new::<&str>(&[], Duration::ZERO).unwrap();
        assert!(!f.requires_wake());
    }

    #[test]
    fn empty_phrase_is_an_error() {
        let e = WakeFilter::new(&["  ,, "], Duration::ZERO).unwrap_err();
        assert!(e.to_string().contains("none"), "{e}");
    }
}
