//! The compiled template graph and the matcher: a port of hassil's
//! `string_matcher.match_expression` + `recognize.recognize_all` +
//! `recognize_best`, in continuation-passing style over byte offsets into
//! one pre-normalized input (no per-step string copies), with backtracking
//! state instead of copied match contexts.

use serde_json::Value;

use super::text::{self, SkipMode, lower};

mod budget;
mod compiled;
mod recognize;
mod scan;

use budget::Budget;
pub use budget::{MAX_STEPS, SENTENCE_STEPS, TooComplex};

pub(crate) use compiled::*;
use scan::*;

// ---------------------------------------------------------------------------
// matching state

/// The value of a slot being matched.
#[derive(Clone, Copy, Debug)]
enum EntityValue<'a> {
    /// A list value's `out` (hassil `value_out`).
    Json(&'a Value),
    /// The matched text itself (wildcards, values without `out`).
    Text,
    /// A range list number.
    Num(f64),
}

/// A slot value matched so far, as a span of the input (hassil's
/// `MatchEntity` while the match is in progress).
#[derive(Clone, Copy, Debug)]
struct EntitySpan<'a> {
    name: &'a str,
    val: EntityValue<'a>,
    /// Byte range in the input form chosen by `broken`.
    start: u32,
    end: u32,
    /// Matched against the break-words form of the input.
    broken: bool,
    wildcard: bool,
    /// A wildcard still growing (hassil `is_wildcard_open`).
    open: bool,
    end_of_word: bool,
}

/// The state of one match attempt (hassil's `MatchContext`), changed in
/// place and restored on backtracking instead of copied.
struct MatchState<'a> {
    /// Byte offset in the input.
    pos: usize,
    /// Matching the break-words form of the input.
    broken: bool,
    /// The next text must start a word.
    start_of_word: bool,
    /// Literal text chunks matched (hassil `text_chunks_matched`).
    chunks: u32,
    spans: Vec<EntitySpan<'a>>,
    /// Intent context: satellite area plus list values' context.
    ctx: Vec<(&'a str, &'a Value)>,
}

/// What to match after the current node (continuation-passing style: each
/// node calls its continuation on every way it matched, so alternatives
/// backtrack without allocating).
enum Continuation<'c, 'a> {
    /// The whole sentence matched: check it and keep the best.
    Done,
    Seq {
        rest: &'a [NodeId],
        next: &'c Continuation<'c, 'a>,
    },
    Perm {
        items: &'a [NodeId],
        used: u64,
        next: &'c Continuation<'c, 'a>,
    },
    ListEnd {
        slot: &'a str,
        capture: bool,
        value: &'a TextValue,
        start: usize,
        broken: bool,
        start_of_word: bool,
        chunks: u32,
        next: &'c Continuation<'c, 'a>,
    },
}

/// Running `recognize_best` selection.
#[derive(Default, Clone)]
struct Selection {
    metadata_found: bool,
    slot_found: bool,
    best_quality: Option<usize>,
    best: Option<((u32, i64, usize), Recognized)>,
}

#[derive(Default)]
struct Best {
    sel: Selection,
    budget: Budget,
}

struct Matcher<'a, 'b> {
    compiled: &'a Compiled,
    data: &'a CompiledData,
    intent: usize,
    data_idx: usize,
    bufs: &'b InputText,
    best: &'b mut Best,
    ignore_ws: bool,
}

impl<'a, 'b> Matcher<'a, 'b> {
    fn list(&self, id: u32) -> Option<&'a SlotList> {
        let c: &'a Compiled = self.compiled;
        let data: &'a CompiledData = self.data;
        let idx = data
            .local_lists
            .iter()
            .find(|(n, _)| *n == id)
            .map(|(_, l)| *l)
            .or_else(|| c.global_lists.get(id as usize).copied().flatten())?;
        c.lists.get(idx as usize)
    }

    fn rule(&self, id: u32) -> Option<NodeId> {
        self.data
            .local_rules
            .iter()
            .find(|(n, _)| *n == id)
            .map(|(_, r)| *r)
            .or_else(|| self.compiled.global_rules.get(id as usize).copied().flatten())
    }

    /// Count one step; false once the budget is spent (the caller returns).
    fn tick(&mut self) -> bool {
        let b = &mut self.best.budget;
        if b.exhausted {
            return false;
        }
        b.total += 1;
        b.sentence += 1;
        if b.sentence > SENTENCE_STEPS || b.total > MAX_STEPS {
            b.exhausted = true;
            return false;
        }
        true
    }

    fn open_wildcard(st: &MatchState<'a>) -> Option<usize> {
        let i = st.spans.len().checked_sub(1)?;
        let e = &st.spans[i];
        (e.wildcard && e.open).then_some(i)
    }

    fn ent_text(&self, e: &EntitySpan<'a>) -> &'b str {
        let s = self.bufs.orig(e.broken);
        s.get(e.start as usize..e.end as usize).unwrap_or("")
    }

    /// Match `node` at `st`, calling `k` for every way it matches.
    fn match_node(&mut self, node: NodeId, st: &mut MatchState<'a>, k: &Continuation<'_, 'a>) {
        if !self.tick() {
            return;
        }
        let c: &'a Compiled = self.compiled;
        let Some(n) = c.nodes.get(node as usize) else { return };
        match n {
            Node::Text(t) => self.text(t, st, k),
            Node::Seq(items) => {
                if let Some((first, rest)) = items.split_first() {
                    self.match_node(*first, st, &Continuation::Seq { rest, next: k });
                }
            }
            Node::Alt(items) => {
                for it in items {
                    self.match_node(*it, st, k);
                }
            }
            Node::Perm(items) => self.match_permutation(items, 0, st, k),
            Node::List { list, slot, capture, end_of_word } => {
                self.list_ref(*list, slot, *capture, *end_of_word, st, k)
            }
            Node::Rule(r) => {
                if let Some(body) = self.rule(*r) {
                    self.match_node(body, st, k);
                }
            }
        }
    }

    /// Match the items of a permutation not yet `used` (a bit set), in every order.
    fn match_permutation(&mut self, items: &'a [NodeId], used: u64, st: &mut MatchState<'a>, k: &Continuation<'_, 'a>) {
        let remaining = items.len() - used.count_ones() as usize;
        if remaining == 1 {
            if let Some(i) = (0..items.len()).find(|i| used & (1 << i) == 0) {
                self.match_node(items[i], st, k);
            }
            return;
        }
        for i in 0..items.len().min(64) {
            if used & (1 << i) != 0 {
                continue;
            }
            self.match_node(items[i], st, &Continuation::Perm { items, used: used | (1 << i), next: k });
        }
    }

    /// Run the continuation `k` from `st`.
    fn continue_with(&mut self, st: &mut MatchState<'a>, k: &Continuation<'_, 'a>) {
        if !self.tick() {
            return;
        }
        match k {
            Continuation::Done => self.done(st),
            Continuation::Seq { rest, next } => match rest.split_first() {
                Some((first, rest)) => self.match_node(*first, st, &Continuation::Seq { rest, next }),
                None => self.continue_with(st, next),
            },
            Continuation::Perm { items, used, next } => self.match_permutation(items, *used, st, next),
            Continuation::ListEnd { slot, capture, value, start, broken, start_of_word, chunks, next } => {
                let outer = self.bufs.orig(*broken);
                let mut ent_start = *start;
                if let Some(w) = st.spans.last().filter(|e| e.wildcard) {
                    let wt = self.ent_text(w);
                    if outer.get(*start..).is_some_and(|s| s.starts_with(wt)) {
                        ent_start += wt.len();
                    }
                }
                let end = st.pos.max(ent_start);
                let (save_sow, save_chunks, save_ents, save_ctx) =
                    (st.start_of_word, st.chunks, st.spans.len(), st.ctx.len());
                st.start_of_word = *start_of_word;
                st.chunks = *chunks;
                if !*capture {
                    st.spans.push(EntitySpan {
                        name: slot,
                        val: value.out.as_ref().map_or(EntityValue::Text, EntityValue::Json),
                        start: ent_start as u32,
                        end: end as u32,
                        broken: *broken,
                        wildcard: false,
                        open: true,
                        end_of_word: true,
                    });
                }
                if let Some(vc) = &value.context {
                    for (kk, vv) in vc {
                        st.ctx.push((kk.as_str(), vv));
                    }
                }
                self.continue_with(st, next);
                st.start_of_word = save_sow;
                st.chunks = save_chunks;
                st.spans.truncate(save_ents);
                st.ctx.truncate(save_ctx);
            }
        }
    }

    /// Close open wildcards (hassil `close_wildcards`); returns what to reopen.
    fn close_wildcards(st: &mut MatchState<'a>) -> Option<usize> {
        let i = Self::open_wildcard(st)?;
        st.spans[i].open = false;
        Some(i)
    }

    fn text(&mut self, t: &'a TextNode, st: &mut MatchState<'a>, k: &Continuation<'_, 'a>) {
        if !self.tick() {
            return;
        }
        if t.empty {
            return self.continue_with(st, k);
        }
        let lo = self.bufs.lo(st.broken);
        let (chunk, ctx_start) = if !self.ignore_ws && st.start_of_word {
            let rest = lo.get(st.pos..).unwrap_or("");
            (&t.folded[t.lstrip as usize..], st.pos + (rest.len() - rest.trim_start().len()))
        } else {
            (&t.folded[..], st.pos)
        };
        let ctx_text = lo.get(ctx_start..).unwrap_or("");
        let chunk_blank = chunk.trim().is_empty();

        if let Some(wi) = Self::open_wildcard(st) {
            let w = st.spans[wi];
            if self.ent_text(&w).trim().is_empty() {
                if chunk_blank {
                    let (p, s) = (st.pos, st.start_of_word);
                    st.pos = ctx_start;
                    st.start_of_word = true;
                    self.continue_with(st, k);
                    st.pos = p;
                    st.start_of_word = s;
                    return;
                }
                let end_of_word = if self.ignore_ws { false } else { w.end_of_word };
                let Some(mut idx) = match_first(ctx_text, chunk, 0, end_of_word) else { return };
                if idx == 0 {
                    let Some(i2) =
                        match_first(ctx_text, chunk, next_boundary(ctx_text, 0).min(ctx_text.len()), end_of_word)
                    else {
                        return;
                    };
                    idx = i2;
                }
                let (p, s, b) = (st.pos, st.start_of_word, st.broken);
                while idx > 0 {
                    st.spans[wi] = EntitySpan {
                        name: w.name,
                        val: EntityValue::Text,
                        start: ctx_start as u32,
                        end: (ctx_start + idx) as u32,
                        broken: st.broken,
                        wildcard: true,
                        open: false,
                        end_of_word: true,
                    };
                    st.pos = ctx_start + idx;
                    st.start_of_word = true;
                    self.text(t, st, k);
                    st.pos = p;
                    st.start_of_word = s;
                    st.broken = b;
                    st.spans[wi] = w;
                    if idx >= ctx_text.len() {
                        break;
                    }
                    match match_first(ctx_text, chunk, next_boundary(ctx_text, idx), false) {
                        Some(i) => idx = i,
                        None => break,
                    }
                }
                return;
            }
        }

        if ctx_text.starts_with(chunk) {
            let (p, s, ch) = (st.pos, st.start_of_word, st.chunks);
            st.pos = ctx_start + chunk.len();
            st.start_of_word = t.ends_word;
            let reopen = if !chunk_blank {
                st.chunks += t.chars;
                Self::close_wildcards(st)
            } else {
                None
            };
            self.continue_with(st, k);
            if let Some(i) = reopen {
                st.spans[i].open = true;
            }
            st.pos = p;
            st.start_of_word = s;
            st.chunks = ch;
            return;
        }
        if ctx_text.trim().is_empty() && !chunk.is_empty() && chunk.chars().all(char::is_whitespace) {
            return self.continue_with(st, k);
        }
        if !st.broken && (ctx_text.contains('-') || ctx_text.contains('_')) {
            let blo = self.bufs.lo(true);
            if blo.get(ctx_start..).is_some_and(|s| s.starts_with(chunk)) {
                let (p, b) = (st.pos, st.broken);
                st.pos = ctx_start + chunk.len();
                st.broken = true;
                let reopen = if !chunk_blank { Self::close_wildcards(st) } else { None };
                self.continue_with(st, k);
                if let Some(i) = reopen {
                    st.spans[i].open = true;
                }
                st.pos = p;
                st.broken = b;
            }
        }
    }

    fn list_ref(
        &mut self,
        list: u32,
        slot: &'a str,
        capture: bool,
        end_of_word: bool,
        st: &mut MatchState<'a>,
        k: &Continuation<'_, 'a>,
    ) {
        let Some(sl) = self.list(list) else { return };
        let lo = self.bufs.lo(st.broken);
        let rest = lo.get(st.pos..).unwrap_or("");
        if rest.is_empty() {
            return;
        }
        let wildcard = Self::open_wildcard(st);
        match sl {
            SlotList::Text(values) => {
                let narrow = wildcard.is_none() && !self.ignore_ws && st.start_of_word;
                let anchored = rest.trim_start();
                if narrow && !anchored.is_empty() {
                    // hassil's trie: prefixes of the text, shortest key first,
                    // then the `-`/`_`-broken text, then unindexed values.
                    let mut cands: Vec<(usize, usize)> = Vec::new();
                    for (i, v) in values.iter().enumerate() {
                        if let Some(key) = &v.key
                            && anchored.starts_with(&**key)
                        {
                            cands.push((key.chars().count(), i));
                        }
                    }
                    cands.sort();
                    let mut order: Vec<usize> = cands.into_iter().map(|(_, i)| i).collect();
                    if anchored.contains('-') || anchored.contains('_') {
                        let broken = anchored.replace(['-', '_'], " ");
                        let mut c2: Vec<(usize, usize)> = Vec::new();
                        for (i, v) in values.iter().enumerate() {
                            if let Some(key) = &v.key
                                && broken.starts_with(&**key)
                            {
                                c2.push((key.chars().count(), i));
                            }
                        }
                        c2.sort();
                        order.extend(c2.into_iter().map(|(_, i)| i));
                    }
                    order.extend(values.iter().enumerate().filter(|(_, v)| v.key.is_none()).map(|(i, _)| i));
                    for i in order {
                        self.try_value(&values[i], slot, capture, st, k);
                    }
                } else {
                    for v in values {
                        self.try_value(v, slot, capture, st, k);
                    }
                }
            }
            SlotList::Range(r) => {
                let float = !r.fractions.is_empty();
                let mut matches: Vec<(usize, usize)> = Vec::new();
                if wildcard.is_none() {
                    if let Some(e) = number_at(rest, 0, float) {
                        matches.push((0, e));
                    }
                } else {
                    let mut i = 0;
                    while i < rest.len() {
                        match number_at(rest, i, float) {
                            Some(e) => {
                                matches.push((i, e));
                                i = e;
                            }
                            None => i = next_boundary(rest, i),
                        }
                    }
                }
                let digits_blocked = !matches.is_empty();
                let mut digits_match = false;
                for (s, e) in matches.iter().copied().filter(|_| r.digits) {
                    let Some(n) = parse_number(&rest[s..e]) else { continue };
                    if !r.contains(n) {
                        continue;
                    }
                    digits_match = true;
                    let val = n * r.multiplier.unwrap_or(1.0);
                    let val = if r.multiplier.is_some() { val } else { n };
                    let base = st.pos;
                    let (p, save_len) = (st.pos, st.spans.len());
                    let num = EntitySpan {
                        name: slot,
                        val: EntityValue::Num(val),
                        start: (base + s) as u32,
                        end: (base + e) as u32,
                        broken: st.broken,
                        wildcard: false,
                        open: true,
                        end_of_word: true,
                    };
                    match wildcard {
                        None => {
                            if !capture {
                                st.spans.push(num);
                            }
                            st.pos = base + e;
                            self.continue_with(st, k);
                        }
                        Some(wi) => {
                            let w = st.spans[wi];
                            st.spans[wi] = EntitySpan {
                                start: base as u32,
                                end: (base + s) as u32,
                                broken: st.broken,
                                open: false,
                                val: EntityValue::Text,
                                ..w
                            };
                            if !capture {
                                st.spans.push(num);
                            }
                            st.pos = base + e;
                            self.continue_with(st, k);
                            st.spans.truncate(save_len);
                            st.spans[wi] = w;
                        }
                    }
                    st.spans.truncate(save_len);
                    st.pos = p;
                }
                if r.words_enabled && !digits_match && !digits_blocked && !r.words.is_empty() {
                    self.number_words(r, slot, capture, wildcard, st, k);
                }
            }
            SlotList::Wildcard => {
                st.spans.push(EntitySpan {
                    name: slot,
                    val: EntityValue::Text,
                    start: st.pos as u32,
                    end: st.pos as u32,
                    broken: st.broken,
                    wildcard: true,
                    open: true,
                    end_of_word,
                });
                self.continue_with(st, k);
                st.spans.pop();
            }
        }
    }

    /// hassil's range trie: number words at the start of the remaining text
    /// (anywhere after an open wildcard), matched as a text chunk.
    fn number_words(
        &mut self,
        r: &'a RangeList,
        slot: &'a str,
        capture: bool,
        wildcard: Option<usize>,
        st: &mut MatchState<'a>,
        k: &Continuation<'_, 'a>,
    ) {
        let lo = self.bufs.lo(st.broken);
        let rest = lo.get(st.pos..).unwrap_or("");
        // (start, word index), hassil order: by start, then shorter first.
        let mut hits: Vec<(usize, usize)> = Vec::new();
        let starts: Vec<usize> = match wildcard {
            None => vec![0],
            Some(_) => rest.char_indices().map(|(i, _)| i).collect(),
        };
        for s0 in starts {
            let tail = &rest[s0..];
            let mut seen: Vec<&str> = Vec::new();
            for (wi, (w, _)) in r.words.iter().enumerate() {
                if tail.starts_with(&*w.folded) {
                    // Trie.find(unique=True): one visit per node (word text).
                    if s0 > 0 && seen.contains(&&*w.folded) {
                        continue;
                    }
                    seen.push(&w.folded);
                    hits.push((s0, wi));
                }
            }
        }
        for (s0, wi) in hits {
            let (w, val) = &r.words[wi];
            let base = st.pos;
            let (p, save_len) = (st.pos, st.spans.len());
            let num = EntitySpan {
                name: slot,
                val: EntityValue::Num(*val),
                start: (base + s0) as u32,
                end: (base + s0 + w.folded.len()) as u32,
                broken: st.broken,
                wildcard: false,
                open: true,
                end_of_word: true,
            };
            match wildcard {
                None => {
                    if !capture {
                        st.spans.push(num);
                    }
                    self.text(w, st, k);
                }
                Some(wi2) => {
                    let wc = st.spans[wi2];
                    st.spans[wi2] = EntitySpan {
                        start: base as u32,
                        end: (base + s0) as u32,
                        broken: st.broken,
                        open: false,
                        val: EntityValue::Text,
                        ..wc
                    };
                    if !capture {
                        st.spans.push(num);
                    }
                    st.pos = base + s0;
                    self.text(w, st, k);
                    st.spans.truncate(save_len);
                    st.spans[wi2] = wc;
                }
            }
            st.spans.truncate(save_len);
            st.pos = p;
        }
    }

    fn try_value(
        &mut self,
        v: &'a TextValue,
        slot: &'a str,
        capture: bool,
        st: &mut MatchState<'a>,
        k: &Continuation<'_, 'a>,
    ) {
        if v.blank {
            return;
        }
        let data: &'a CompiledData = self.data;
        if let Some(vc) = &v.context {
            if !data.requires.is_empty() && !check_required(&data.requires, &|key| vc.get(key), true) {
                return;
            }
            if !data.excludes.is_empty() && !check_excluded(&data.excludes, &|key| vc.get(key)) {
                return;
            }
        }
        let list_end = Continuation::ListEnd {
            slot,
            capture,
            value: v,
            start: st.pos,
            broken: st.broken,
            start_of_word: st.start_of_word,
            chunks: st.chunks,
            next: k,
        };
        self.match_node(v.input, st, &list_end);
    }

    /// hassil `_process_match_contexts` + `recognize_best` accumulation.
    fn done(&mut self, st: &mut MatchState<'a>) {
        let bufs: &'b InputText = self.bufs;
        let ent_text =
            |e: &EntitySpan<'a>| -> &'b str { bufs.orig(e.broken).get(e.start as usize..e.end as usize).unwrap_or("") };
        let lo_orig = self.bufs.orig(st.broken);
        let rest = lo_orig.get(st.pos..).unwrap_or("");
        let final_text = rest.trim();
        let mut spans = st.spans.clone();
        let mut consumed = false;
        if !final_text.is_empty()
            && let Some(last) = spans.last_mut().filter(|e| e.wildcard && e.open)
        {
            let lead = rest.len() - rest.trim_start().len();
            if last.start == last.end {
                last.start = (st.pos + lead) as u32;
                last.broken = st.broken;
            }
            last.end = (st.pos + lead + final_text.len()) as u32;
            last.open = false;
            consumed = true;
        }
        if !consumed && !final_text.is_empty() && !text::remove_punctuation(rest).trim().is_empty() {
            return;
        }
        for e in &spans {
            if e.wildcard && ent_text(e).trim().is_empty() {
                return;
            }
        }
        let data = self.data;
        let ctx = &st.ctx;
        let lookup = |key: &str| ctx_get(ctx, key);
        if !data.excludes.is_empty() && !check_excluded(&data.excludes, &lookup) {
            return;
        }
        // requires_context, copying slots out of the context
        let mut from_ctx: Vec<MatchedEntity> = Vec::new();
        for (key, cv) in &data.requires {
            let mut copy_to: Option<&str> = None;
            let mut cv = cv;
            if let Value::Object(m) = cv {
                match m.get("slot") {
                    Some(Value::String(s)) => copy_to = Some(s.as_str()),
                    Some(v) if truthy(v) => copy_to = Some(key.as_str()),
                    _ => {}
                }
                cv = m.get("value").unwrap_or(&Value::Null);
            }
            let raw = ctx_get(ctx, key);
            let (actual, actual_text) = match raw {
                Some(Value::Object(m)) => (
                    m.get("value").unwrap_or(&Value::Null),
                    m.get("text").and_then(Value::as_str).unwrap_or("").to_string(),
                ),
                Some(v) => (v, String::new()),
                None => (&Value::Null, String::new()),
            };
            let ok = (!cv.is_null() && py_eq(actual, cv))
                || (cv.is_null() && !actual.is_null())
                || (is_collection(cv) && py_in(actual, cv));
            if !ok {
                return;
            }
            if let Some(slot) = copy_to {
                from_ctx.push(MatchedEntity {
                    name: slot.to_string(),
                    value: actual.clone(),
                    text: actual_text,
                    wildcard: false,
                });
            }
        }

        // recognize_best
        let is_meta = data.custom;
        let best = &mut self.best.sel;
        if best.metadata_found && !is_meta {
            return;
        }
        if !best.metadata_found && is_meta {
            best.metadata_found = true;
            best.slot_found = false;
            best.best = None;
            best.best_quality = None;
        }
        // entity named "name" (last wins, then fixed slots, then context)
        let name_ent = spans.iter().rev().find(|e| e.name == "name");
        let (is_slot, quality, is_str) = match name_ent {
            Some(e) => {
                let is_str = match e.val {
                    EntityValue::Json(v) => v.is_string(),
                    EntityValue::Text => true,
                    EntityValue::Num(_) => false,
                };
                (!e.wildcard, ent_text(e).chars().count(), is_str)
            }
            None => {
                let names: Vec<&str> = spans.iter().map(|e| e.name).collect();
                if let Some(v) = data.slots.get("name").filter(|_| !names.contains(&"name")) {
                    (true, 0, v.is_string())
                } else if let Some(m) = from_ctx.iter().find(|m| m.name == "name") {
                    (true, m.text.chars().count(), m.value.is_string())
                } else {
                    (false, 0, false)
                }
            }
        };
        if best.slot_found && !is_slot {
            return;
        }
        if !best.slot_found && is_slot {
            best.slot_found = true;
            best.best = None;
        }
        if is_slot && is_str {
            match best.best_quality {
                Some(q) if quality < q => return,
                Some(q) if quality == q => {}
                _ => {
                    best.best_quality = Some(quality);
                    best.best = None;
                }
            }
        }
        let wildcards = spans.iter().filter(|e| e.wildcard).count() as u32;
        let wild_len: usize = spans.iter().filter(|e| e.wildcard).map(|e| ent_text(e).trim().chars().count()).sum();
        let key = (wildcards, -(st.chunks as i64), wild_len);
        let intent_name = &self.compiled.intents[self.intent].name;
        if let Some((bk, br)) = &best.best {
            let bname = &self.compiled.intents[br.intent].name;
            if (bk, bname) <= (&key, intent_name) {
                return;
            }
        }
        // materialize
        let mut out: Vec<MatchedEntity> = Vec::with_capacity(spans.len() + 2);
        for e in &spans {
            let t = ent_text(e);
            let (text, value) = if e.wildcard {
                let t = t.trim().to_string();
                (t.clone(), Value::String(t))
            } else {
                let value = match e.val {
                    EntityValue::Json(v) => v.clone(),
                    EntityValue::Text => Value::String(t.to_string()),
                    EntityValue::Num(n) => serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number),
                };
                (t.to_string(), value)
            };
            out.push(MatchedEntity { name: e.name.to_string(), value, text, wildcard: e.wildcard });
        }
        let names: Vec<String> = out.iter().map(|e| e.name.clone()).collect();
        for (k, v) in &data.slots {
            if !names.iter().any(|n| n == k) {
                out.push(MatchedEntity { name: k.clone(), value: v.clone(), text: String::new(), wildcard: false });
            }
        }
        for m in from_ctx {
            if !names.contains(&m.name) {
                out.push(m);
            }
        }
        let context = st.ctx.iter().map(|(k, v)| ((*k).to_string(), (*v).clone())).collect();
        best.best = Some((key, Recognized { intent: self.intent, data: self.data_idx, entities: out, context }));
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}
