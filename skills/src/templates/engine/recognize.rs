//! `Compiled`'s entry points: the literal prefilter (`first_lits`), the
//! wildcard shape of a sentence, and `recognize`, which runs the matcher
//! over every candidate sentence within the step budget.
use super::*;

impl Compiled {
    /// Literal starts of `node` (see `CompiledSentence::first`): (literals,
    /// nullable), or None if unknown.
    pub(crate) fn first_lits(
        &self,
        node: NodeId,
        local_lists: &[(u32, u32)],
        local_rules: &[(u32, NodeId)],
        depth: usize,
    ) -> Option<(Vec<Box<str>>, bool)> {
        if depth > 40 || self.ignore_ws {
            return None;
        }
        match self.nodes.get(node as usize)? {
            Node::Text(t) => {
                let m = &t.folded[t.lstrip as usize..];
                if m.is_empty() { Some((Vec::new(), true)) } else { Some((vec![m.into()], false)) }
            }
            Node::Alt(items) | Node::Perm(items) => {
                let mut acc = Vec::new();
                let mut nullable = matches!(self.nodes.get(node as usize), Some(Node::Perm(_)));
                let is_perm = nullable;
                for it in items {
                    let (l, n) = self.first_lits(*it, local_lists, local_rules, depth + 1)?;
                    acc.extend(l);
                    nullable = if is_perm { nullable && n } else { nullable || n };
                }
                Some((acc, nullable))
            }
            Node::Seq(items) => {
                if items.is_empty() {
                    return Some((Vec::new(), false));
                }
                let mut acc = Vec::new();
                for it in items {
                    let (l, n) = self.first_lits(*it, local_lists, local_rules, depth + 1)?;
                    acc.extend(l);
                    if !n {
                        return Some((acc, false));
                    }
                }
                Some((acc, true))
            }
            Node::List { list, .. } => {
                let idx = local_lists
                    .iter()
                    .find(|(n, _)| n == list)
                    .map(|(_, l)| *l)
                    .or_else(|| self.global_lists.get(*list as usize).copied().flatten())?;
                match self.lists.get(idx as usize)? {
                    SlotList::Text(values) => {
                        let mut acc = Vec::new();
                        let mut nullable = false;
                        for v in values.iter().filter(|v| !v.blank) {
                            let (l, n) = self.first_lits(v.input, local_lists, local_rules, depth + 1)?;
                            acc.extend(l);
                            nullable |= n;
                        }
                        Some((acc, nullable))
                    }
                    _ => None,
                }
            }
            Node::Rule(r) => {
                let body = local_rules
                    .iter()
                    .find(|(n, _)| n == r)
                    .map(|(_, b)| *b)
                    .or_else(|| self.global_rules.get(*r as usize).copied().flatten())?;
                self.first_lits(body, local_lists, local_rules, depth + 1)
            }
        }
    }

    fn global_list(&self, id: u32) -> Option<&SlotList> {
        self.global_lists.get(id as usize).copied().flatten().and_then(|i| self.lists.get(i as usize))
    }

    fn is_wildcard_node(&self, id: NodeId) -> bool {
        matches!(self.nodes.get(id as usize), Some(Node::List { list, .. }) if matches!(self.global_list(*list), Some(SlotList::Wildcard)))
    }

    /// Decide the sentence's wildcard shape (recognize_all's special cases).
    pub(crate) fn wildcard_shape(&self, root: NodeId) -> (bool, bool, bool) {
        match self.nodes.get(root as usize) {
            Some(Node::Seq(items)) if items.len() == 1 => (self.is_wildcard_node(items[0]), false, false),
            Some(Node::Seq(items)) if items.len() > 1 => {
                let first = self.is_wildcard_node(items[0]);
                let last = !first && items.last().is_some_and(|l| self.is_wildcard_node(*l));
                (false, first, last)
            }
            _ => (false, false, false),
        }
    }

    /// hassil `recognize_best(..., best_metadata_key="hass_custom_sentence",
    /// best_slot_name="name")` as Home Assistant calls it; `Err` when the
    /// search ran past [`MAX_STEPS`].
    pub(crate) fn recognize(
        &self,
        input: &str,
        intent_context: &[(String, Value)],
    ) -> Result<Option<Recognized>, TooComplex> {
        let with_skip = text::normalize_for_matching(input);
        let no_skip = text::remove_skip_words(&with_skip, &self.skip_words, self.ignore_ws, SkipMode::Anywhere);
        let had_skip = no_skip != with_skip;
        let mut haystack = format!("{}\n{}", lower(&with_skip), lower(&no_skip));
        if self.ignore_ws {
            let stripped = text::remove_cjk_whitespace(&haystack);
            haystack.push('\n');
            haystack.push_str(&stripped);
        }
        let matchable =
            |t: &str| -> String { if self.ignore_ws { text::remove_cjk_whitespace(t) } else { format!("{t} ") } };
        let b_no_skip = InputText::new(matchable(&no_skip));
        let b_with = InputText::new(matchable(&with_skip));
        let mut b_at_start: Option<InputText> = None;
        let mut b_at_end: Option<InputText> = None;
        let keywords: Vec<&str> = no_skip.split_whitespace().collect();
        let ctx_lookup = |key: &str| intent_context.iter().find(|(k, _)| k == key).map(|(_, v)| v);

        let present: Vec<bool> = self.fragments.iter().map(|f| haystack.contains(f.as_str())).collect();
        let mut best = Best::default();
        let mut dropped = 0u32;
        for (ii, intent) in self.intents.iter().enumerate() {
            for (di, data) in intent.data.iter().enumerate() {
                if let Some(kw) = &data.required_keywords
                    && !kw.iter().any(|w| keywords.contains(&w.as_str()))
                {
                    continue;
                }
                if !intent_context.is_empty() {
                    if !data.requires.is_empty() && !check_required(&data.requires, &ctx_lookup, true) {
                        continue;
                    }
                    if !data.excludes.is_empty() && !check_excluded(&data.excludes, &ctx_lookup) {
                        continue;
                    }
                }
                for s in &data.sentences {
                    if !s.clauses.iter().all(|cl| cl.iter().any(|f| present.get(*f as usize).copied().unwrap_or(true)))
                    {
                        continue;
                    }
                    let (tracked, is_plain): (&InputText, bool) = if s.only_wildcard {
                        (&b_with, false)
                    } else if s.starts_wildcard {
                        let b = b_at_end.get_or_insert_with(|| {
                            InputText::new(matchable(&text::remove_skip_words(
                                &with_skip,
                                &self.skip_words,
                                self.ignore_ws,
                                SkipMode::EndOnly,
                            )))
                        });
                        (&*b, false)
                    } else if s.ends_wildcard {
                        let b = b_at_start.get_or_insert_with(|| {
                            InputText::new(matchable(&text::remove_skip_words(
                                &with_skip,
                                &self.skip_words,
                                self.ignore_ws,
                                SkipMode::StartOnly,
                            )))
                        });
                        (&*b, false)
                    } else {
                        (&b_no_skip, true)
                    };
                    let same_as_no_skip = is_plain || tracked.orig[1] == b_no_skip.orig[1];
                    let mut cands: Vec<&InputText> = Vec::with_capacity(2);
                    if had_skip && same_as_no_skip {
                        cands.push(&b_with);
                    }
                    cands.push(tracked);
                    for bufs in cands {
                        if let Some(first) = &s.first
                            && !bufs.has_break
                        {
                            let t = &bufs.lo(false)[bufs.start..];
                            if !first.iter().any(|f| t.starts_with(&**f)) {
                                continue;
                            }
                        }
                        let mut st = MatchState {
                            pos: 0,
                            broken: false,
                            start_of_word: true,
                            chunks: 0,
                            spans: Vec::with_capacity(8),
                            ctx: intent_context.iter().map(|(k, v)| (k.as_str(), v)).collect(),
                        };
                        let before = best.sel.clone();
                        best.budget.sentence = 0;
                        let mut matcher = Matcher {
                            compiled: self,
                            data,
                            intent: ii,
                            data_idx: di,
                            bufs,
                            best: &mut best,
                            ignore_ws: self.ignore_ws,
                        };
                        matcher.match_node(s.root, &mut st, &Continuation::Done);
                        if best.budget.exhausted {
                            best.sel = before;
                            best.budget.exhausted = false;
                            dropped += 1;
                            if best.budget.total > MAX_STEPS {
                                return Err(TooComplex { dropped });
                            }
                        }
                    }
                }
            }
        }
        match best.sel.best {
            Some((_, r)) => Ok(Some(r)),
            None if dropped > 0 => Err(TooComplex { dropped }),
            None => Ok(None),
        }
    }
}
