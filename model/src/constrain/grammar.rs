//! Byte-level grammars: an [`Expr`] compiles to a Thompson NFA, matched
//! through a lazily built DFA (a state is the ε-closed set of NFA nodes;
//! transitions are computed on first use and cached). Bytes, not chars, so
//! that a token that ends inside a UTF-8 sequence is still judged exactly.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A set of bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ByteSet([u64; 4]);

impl ByteSet {
    pub fn single(b: u8) -> ByteSet {
        let mut s = ByteSet::default();
        s.insert(b);
        s
    }
    pub fn insert(&mut self, b: u8) {
        self.0[(b >> 6) as usize] |= 1 << (b & 63);
    }
    /// Every byte in `lo..=hi`.
    pub fn range(lo: u8, hi: u8) -> ByteSet {
        let mut s = ByteSet::default();
        for b in lo..=hi {
            s.insert(b);
        }
        s
    }
    pub fn contains(&self, b: u8) -> bool {
        self.0[(b >> 6) as usize] & (1 << (b & 63)) != 0
    }
    pub fn union(mut self, o: ByteSet) -> ByteSet {
        for (a, b) in self.0.iter_mut().zip(o.0) {
            *a |= b;
        }
        self
    }
}

impl std::fmt::Debug for ByteSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n: u32 = self.0.iter().map(|w| w.count_ones()).sum();
        write!(f, "ByteSet({n} bytes)")
    }
}

/// A regular language over bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// These bytes, in order.
    Lit(Vec<u8>),
    /// One byte of the set.
    Class(ByteSet),
    Seq(Vec<Expr>),
    /// One of the alternatives (an empty `Alt` matches nothing).
    Alt(Vec<Expr>),
    /// `min` to `max` repetitions (`None`: unbounded).
    Repeat(Box<Expr>, u32, Option<u32>),
}

impl Expr {
    pub fn lit(s: &str) -> Expr {
        Expr::Lit(s.as_bytes().to_vec())
    }
    pub fn opt(e: Expr) -> Expr {
        Expr::Repeat(Box::new(e), 0, Some(1))
    }
}

#[derive(Debug)]
enum Node {
    Byte(ByteSet, u32),
    Split(Vec<u32>),
    Match,
}

const DEAD: u32 = 0;
const UNSET: u32 = u32::MAX;

#[derive(Debug, Default)]
pub(super) struct Dfa {
    sets: Vec<Vec<u32>>,
    index: HashMap<Vec<u32>, u32>,
    trans: Vec<[u32; 256]>,
    accept: Vec<bool>,
    /// Whether any byte leads on from the state.
    open: Vec<bool>,
    /// Allowed token ids per (vocabulary, state), see [`super::vocab`].
    pub(super) masks: HashMap<(u64, u32), Arc<Vec<u32>>>,
    /// Closure scratch: `seen[n] == stamp` marks node `n` visited.
    seen: Vec<u32>,
    stamp: u32,
}

/// A compiled grammar, shareable between requests (its DFA cache is shared).
#[derive(Debug)]
pub struct Grammar {
    nodes: Vec<Node>,
    entry: u32,
    /// The DFA state of `start` (0 when the language is empty).
    start_state: u32,
    dfa: Mutex<Dfa>,
}

impl PartialEq for Grammar {
    fn eq(&self, other: &Grammar) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Grammar {
    pub fn new(expr: &Expr) -> Grammar {
        let mut nodes = vec![Node::Match];
        let start = build(&mut nodes, expr, 0);
        let mut g = Grammar { nodes, entry: start, start_state: DEAD, dfa: Mutex::new(Dfa::default()) };
        let mut d = Dfa { seen: vec![0; g.nodes.len()], ..Dfa::default() };
        g.intern(&mut d, Vec::new()); // DEAD = 0
        let first = g.closure(&mut d, &[g.entry]);
        g.start_state = g.intern(&mut d, first);
        g.dfa = Mutex::new(d);
        g
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Dfa> {
        // A panic while holding the lock leaves only caches behind.
        self.dfa.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The start state.
    pub fn start(&self) -> u32 {
        self.start_state
    }

    fn closure(&self, d: &mut Dfa, from: &[u32]) -> Vec<u32> {
        d.stamp = d.stamp.wrapping_add(1);
        if d.stamp == 0 {
            d.seen.fill(0);
            d.stamp = 1;
        }
        let mut out = Vec::new();
        let mut stack: Vec<u32> = from.to_vec();
        while let Some(n) = stack.pop() {
            if std::mem::replace(&mut d.seen[n as usize], d.stamp) == d.stamp {
                continue;
            }
            match &self.nodes[n as usize] {
                Node::Split(next) => stack.extend(next.iter().rev()),
                _ => out.push(n),
            }
        }
        out.sort_unstable();
        out
    }

    fn intern(&self, d: &mut Dfa, set: Vec<u32>) -> u32 {
        if let Some(&id) = d.index.get(&set) {
            return id;
        }
        let id = d.sets.len() as u32;
        d.accept.push(set.iter().any(|&n| matches!(self.nodes[n as usize], Node::Match)));
        d.open.push(set.iter().any(|&n| matches!(self.nodes[n as usize], Node::Byte(..))));
        d.index.insert(set.clone(), id);
        d.sets.push(set);
        d.trans.push([UNSET; 256]);
        id
    }

    pub(super) fn step_locked(&self, d: &mut Dfa, s: u32, b: u8) -> u32 {
        let t = d.trans[s as usize][b as usize];
        if t != UNSET {
            return t;
        }
        let targets: Vec<u32> = d.sets[s as usize]
            .iter()
            .filter_map(|&n| match &self.nodes[n as usize] {
                Node::Byte(set, next) if set.contains(b) => Some(*next),
                _ => None,
            })
            .collect();
        let t = if targets.is_empty() {
            DEAD
        } else {
            let set = self.closure(d, &targets);
            self.intern(d, set)
        };
        d.trans[s as usize][b as usize] = t;
        t
    }

    /// The state after `bytes` from `s` (0 = dead: no continuation matches).
    pub fn step(&self, s: u32, bytes: &[u8]) -> u32 {
        let mut d = self.lock();
        let mut s = s;
        for &b in bytes {
            if s == DEAD {
                break;
            }
            s = self.step_locked(&mut d, s, b);
        }
        s
    }

    pub fn is_accepting(&self, s: u32) -> bool {
        self.lock().accept.get(s as usize).copied().unwrap_or(false)
    }

    /// Whether some byte continues from `s`.
    pub fn is_open(&self, s: u32) -> bool {
        self.lock().open.get(s as usize).copied().unwrap_or(false)
    }

    /// Whether the whole of `bytes` is in the language.
    pub fn accepts(&self, bytes: &[u8]) -> bool {
        let s = self.step(self.start(), bytes);
        s != DEAD && self.is_accepting(s)
    }
}

fn push(nodes: &mut Vec<Node>, n: Node) -> u32 {
    nodes.push(n);
    (nodes.len() - 1) as u32
}

/// Compile `e` so that it continues to `next`; returns its entry node.
fn build(nodes: &mut Vec<Node>, e: &Expr, next: u32) -> u32 {
    match e {
        Expr::Lit(bytes) => bytes.iter().rev().fold(next, |n, &b| push(nodes, Node::Byte(ByteSet::single(b), n))),
        Expr::Class(set) => push(nodes, Node::Byte(*set, next)),
        Expr::Seq(v) => v.iter().rev().fold(next, |n, e| build(nodes, e, n)),
        Expr::Alt(v) => {
            let entries = v.iter().map(|e| build(nodes, e, next)).collect();
            push(nodes, Node::Split(entries))
        }
        Expr::Repeat(e, min, max) => {
            let mut cur = match max {
                None => {
                    let l = push(nodes, Node::Split(Vec::new()));
                    let body = build(nodes, e, l);
                    nodes[l as usize] = Node::Split(vec![body, next]);
                    l
                }
                Some(max) => {
                    let mut cur = next;
                    for _ in 0..max.saturating_sub(*min) {
                        let body = build(nodes, e, cur);
                        cur = push(nodes, Node::Split(vec![body, next]));
                    }
                    cur
                }
            };
            for _ in 0..*min {
                cur = build(nodes, e, cur);
            }
            cur
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_alternatives_and_repeats() {
        let g = Grammar::new(&Expr::Seq(vec![
            Expr::lit("{\"a\":"),
            Expr::Alt(vec![Expr::lit("\"x\""), Expr::lit("\"xy\"")]),
            Expr::Repeat(Box::new(Expr::Class(ByteSet::range(b'0', b'9'))), 1, Some(3)),
            Expr::lit("}"),
        ]));
        for ok in ["{\"a\":\"x\"1}", "{\"a\":\"xy\"123}"] {
            assert!(g.accepts(ok.as_bytes()), "{ok}");
        }
        for bad in ["{\"a\":\"x\"}", "{\"a\":\"xy\"1234}", "{\"a\":\"z\"1}", "{\"a\":\"x\"1} "] {
            assert!(!g.accepts(bad.as_bytes()), "{bad}");
        }
        let s = g.step(g.start(), b"{\"a\":\"x");
        assert!(s != DEAD && !g.is_accepting(s) && g.is_open(s));
        assert_eq!(g.step(s, b"q"), DEAD);
        let end = g.step(s, b"y\"9}");
        assert!(g.is_accepting(end) && !g.is_open(end));
    }

    #[test]
    fn unbounded_repeat_and_empty_alternative() {
        let g = Grammar::new(&Expr::Seq(vec![Expr::Repeat(Box::new(Expr::lit("ab")), 0, None), Expr::lit("c")]));
        assert!(g.accepts(b"c") && g.accepts(b"ababc") && !g.accepts(b"abac"));
        let none = Grammar::new(&Expr::Alt(vec![]));
        assert!(!none.accepts(b"") && !none.accepts(b"a"));
    }
}
