//! The filter language of views: the SQL92 subset RocketMQ documents for message selectors,
//! over record headers and keys; its evaluation on one record ([`Filter::matches`]) and its
//! decision on a whole batch from the batch's summary ([`Filter::decide`]).
//!
//! # Language
//! ```text
//! filter     := or
//! or         := and ( OR and )*
//! and        := not ( AND not )*
//! not        := NOT not | '(' or ')' | predicate
//! predicate  := operand cmp operand
//!             | operand [NOT] BETWEEN operand AND operand
//!             | operand [NOT] IN '(' literal ( ',' literal )* ')'
//!             | operand IS [NOT] NULL
//! cmp        := '=' | '<>' | '<' | '<=' | '>' | '>='
//! operand    := identifier | literal
//! literal    := string | number | TRUE | FALSE
//! identifier := [A-Za-z_][A-Za-z0-9_.]*  (not a keyword)
//!             | '"' ( any character but '"' | '""' )* '"'
//! string     := "'" ( any character but "'" | "''" )* "'"
//! number     := ['-'] ( digits ['.' digits] | '.' digits ) [ ('e' | 'E') ['+' | '-'] digits ]
//! ```
//! Keywords (`AND OR NOT BETWEEN IN IS NULL TRUE FALSE`) are case-insensitive; identifiers are
//! not. Precedence: `NOT` binds tighter than `AND`, `AND` tighter than `OR`.
//!
//! # Meaning
//! - An identifier names a record header: the value of the record's *first* header of that
//!   name. `__key` (unquoted) is the record key; a quoted `"__key"` is a header of that name.
//!   `tag` is simply the header `tag` (RocketMQ's TAGS). A null key, a header with a null
//!   value and a missing header are all NULL.
//! - A literal is its text: a string's characters (UTF-8), a number as written, `TRUE` and
//!   `FALSE` the strings `true` and `false`.
//! - A value is a *number* when its bytes are `['+'|'-'] (digits ['.' [digits]] | '.' digits)
//!   [('e'|'E') ['+'|'-'] digits]`, as an `f64` (so `100`, `100.0` and `1e2` are equal; never
//!   NaN). Two values compare numerically when both are numbers, else byte-wise.
//! - Three-valued logic, as SQL and the ActiveMQ/RocketMQ selectors: a comparison with NULL is
//!   UNKNOWN; `NOT UNKNOWN` is UNKNOWN; `FALSE AND x` is FALSE, `TRUE OR x` is TRUE, otherwise
//!   UNKNOWN wins over TRUE in AND and over FALSE in OR. `x BETWEEN a AND b` is
//!   `x >= a AND x <= b`; `x IN (l1, ..)` is UNKNOWN when `x` is NULL, else whether `x` equals
//!   some `li`; `NOT BETWEEN`, `NOT IN` and `IS NOT NULL` are the `NOT` of the plain forms;
//!   `IS NULL` is never UNKNOWN. A record matches when the whole filter is TRUE.
//!
//! # Deciding a batch
//! [`Filter::decide`] evaluates the filter abstractly over a [`BatchSummary`]: every
//! sub-expression yields the set of truth values (of TRUE, FALSE, UNKNOWN) it may take on the
//! batch's records, an over-approximation of the set it does take.
//! - An operand is *enumerable* when all the values (and NULL) it takes are known: a literal;
//!   a name every record lacks (or has null); an exact field (its values, plus NULL if some
//!   record has none). Otherwise it is a *range*: an approx or undescribed field, or a name
//!   the summary does not know (anything). A predicate whose operands are all enumerable is
//!   evaluated on every combination of their values.
//! - Otherwise: a comparison may be UNKNOWN if a side may be NULL, and TRUE (FALSE) if some
//!   ordering the non-null values may have is (is not) accepted by the operator; the orderings
//!   come from [`crate::view::summary`]'s bounds (numeric range, byte range, bloom filter), or
//!   are any ordering for a range against a range. `BETWEEN` is the AND of its two
//!   comparisons. `IN` may be TRUE if the value may equal some literal, FALSE unless for some
//!   literal equality is its only possible ordering. `IS NULL` may be TRUE if the field may be
//!   NULL, and FALSE (a range always has values).
//! - `NOT` swaps TRUE and FALSE in the set; `AND` and `OR` combine every pair of their
//!   operands' members (sound, as each record's pair is among them).
//! - The result is [`Decision::All`] if the set is {TRUE}, [`Decision::None`] if TRUE is not in
//!   it (or the batch has no records), else [`Decision::Mixed`].
//!
//! # Invariants
//! - Nothing here panics on any filter text, record or summary; every refused text is a
//!   [`FilterError`] with the 1-based character position where it went wrong and what was
//!   expected there.
//! - Parsing and evaluation are bounded by [`FILTER_TEXT_BYTES_MAX`], [`NESTING_DEPTH_MAX`] and
//!   [`IN_LIST_LEN_MAX`]: recursion is at most a few frames per nesting level.
//! - `decide` is sound: `All` only if every record of the summarized batch matches, `None` only
//!   if none does.

use std::cmp::Ordering;
use std::fmt;

use crate::storage::records::Record;
use crate::view::summary::{Approx, BatchSummary, Described, Orderings, Values};

/// Longest filter text in bytes. Why 4 KiB: real selectors are a line or two; the bound keeps
/// parsing and the per-batch decision cheap whatever a client sends.
pub const FILTER_TEXT_BYTES_MAX: usize = 4096;
/// Deepest nesting of parentheses and `NOT`s together. Why 64: far past any hand-written
/// filter, and shallow enough that the recursive parser and evaluators need little stack.
pub const NESTING_DEPTH_MAX: usize = 64;
/// Most literals in one `IN` list. Why 256: enough for a list of tags or ids; the list is
/// scanned for every record.
pub const IN_LIST_LEN_MAX: usize = 256;
/// Characters of source text quoted in an error message.
const EXCERPT_CHARS_MAX: usize = 24;

/// Why a filter text was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    /// 1-based character column where the error was found (one past the last character for
    /// an error at the end of the text).
    pub position: usize,
    /// What was expected there, and what was found.
    pub message: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at position {}: {}", self.position, self.message)
    }
}

impl std::error::Error for FilterError {}

/// What a filter makes of a whole batch, from its summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Every record matches.
    All,
    /// No record matches.
    None,
    /// Some may match, some may not: the records must be read.
    Mixed,
}

/// A parsed filter (module docs).
#[derive(Clone, Debug)]
pub struct Filter {
    text: String,
    expr: Expr,
}

impl Filter {
    /// Parses a filter; the error says where and what was expected.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        if text.len() > FILTER_TEXT_BYTES_MAX {
            let mut cut = FILTER_TEXT_BYTES_MAX;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            return Err(FilterError {
                position: text[..cut].chars().count() + 1,
                message: format!(
                    "the filter is {} bytes long: at most {FILTER_TEXT_BYTES_MAX} bytes",
                    text.len()
                ),
            });
        }
        let tokens = lex(text)?;
        let mut parser = Parser {
            tokens,
            next: 0,
            depth: 0,
        };
        let expr = parser.filter()?;
        Ok(Filter {
            text: text.to_owned(),
            expr,
        })
    }

    /// The text the filter was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the record matches (the filter is TRUE for it).
    pub fn matches(&self, record: &Record) -> bool {
        eval(&self.expr, record) == Truth::True
    }

    /// Whether every, no, or some records of the summarized batch match (module docs).
    pub fn decide(&self, summary: &BatchSummary) -> Decision {
        if summary.record_count() == 0 {
            return Decision::None;
        }
        let truths = abstract_eval(&self.expr, summary);
        if truths == Truths::TRUE {
            Decision::All
        } else if !truths.contains(Truths::TRUE) {
            Decision::None
        } else {
            Decision::Mixed
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/// A non-null operand value: its bytes and, if they are a number, the number.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Value<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) number: Option<f64>,
}

impl<'a> Value<'a> {
    pub(crate) fn of(bytes: &'a [u8]) -> Value<'a> {
        Value {
            bytes,
            number: parse_number(bytes),
        }
    }
}

/// The number `bytes` spell (module docs), never NaN; `None` if they are not one.
pub(crate) fn parse_number(bytes: &[u8]) -> Option<f64> {
    let digits_from = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut i = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    let int_end = digits_from(i);
    let mut digits = int_end - i;
    i = int_end;
    if bytes.get(i) == Some(&b'.') {
        let frac_end = digits_from(i + 1);
        digits += frac_end - (i + 1);
        i = frac_end;
    }
    if digits == 0 {
        return None;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_end = digits_from(i);
        if exp_end == i {
            return None;
        }
        i = exp_end;
    }
    if i != bytes.len() {
        return None;
    }
    // ASCII by the checks above; Rust's float syntax accepts this grammar.
    std::str::from_utf8(bytes).ok()?.parse::<f64>().ok()
}

/// How `a` compares with `b`: numerically if both are numbers, else byte-wise.
pub(crate) fn compare(a: Value<'_>, b: Value<'_>) -> Ordering {
    match (a.number, b.number) {
        // Never NaN (parse_number), so partial_cmp always answers.
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.bytes.cmp(b.bytes),
    }
}

// ---------------------------------------------------------------------------------------------
// Syntax tree
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Expr {
    /// At least two operands.
    And(Vec<Expr>),
    /// At least two operands.
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Predicate(Predicate),
}

#[derive(Clone, Debug)]
enum Predicate {
    Compare(CmpOp, [Operand; 2]),
    /// value, low, high.
    Between([Operand; 3]),
    In(Operand, Vec<Literal>),
    IsNull(Operand),
}

#[derive(Clone, Debug)]
enum Operand {
    Key,
    Header(Box<[u8]>),
    Literal(Literal),
}

#[derive(Clone, Debug)]
struct Literal {
    bytes: Box<[u8]>,
    number: Option<f64>,
}

impl Literal {
    fn new(bytes: Vec<u8>) -> Literal {
        let number = parse_number(&bytes);
        Literal {
            bytes: bytes.into(),
            number,
        }
    }

    fn value(&self) -> Value<'_> {
        Value {
            bytes: &self.bytes,
            number: self.number,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// The orderings (left against right) for which the comparison is TRUE.
    fn accepts(self) -> Orderings {
        match self {
            CmpOp::Eq => Orderings::EQUAL,
            CmpOp::Ne => Orderings::LESS.union(Orderings::GREATER),
            CmpOp::Lt => Orderings::LESS,
            CmpOp::Le => Orderings::LESS.union(Orderings::EQUAL),
            CmpOp::Gt => Orderings::GREATER,
            CmpOp::Ge => Orderings::GREATER.union(Orderings::EQUAL),
        }
    }
}

impl Predicate {
    fn operands(&self) -> &[Operand] {
        match self {
            Predicate::Compare(_, ops) => ops,
            Predicate::Between(ops) => ops,
            Predicate::In(op, _) | Predicate::IsNull(op) => std::slice::from_ref(op),
        }
    }

    /// The predicate's truth when its operands (in `operands()` order) have these values
    /// (`None` = NULL).
    fn eval(&self, values: &[Option<Value<'_>>]) -> Truth {
        match self {
            Predicate::Compare(op, _) => compare_truth(values[0], *op, values[1]),
            Predicate::Between(_) => compare_truth(values[0], CmpOp::Ge, values[1])
                .and(compare_truth(values[0], CmpOp::Le, values[2])),
            Predicate::In(_, list) => match values[0] {
                None => Truth::Unknown,
                Some(v) => Truth::of(
                    list.iter()
                        .any(|l| compare(v, l.value()) == Ordering::Equal),
                ),
            },
            Predicate::IsNull(_) => Truth::of(values[0].is_none()),
        }
    }
}

fn compare_truth(a: Option<Value<'_>>, op: CmpOp, b: Option<Value<'_>>) -> Truth {
    match (a, b) {
        (Some(a), Some(b)) => Truth::of(op.accepts().meets(Orderings::of(compare(a, b)))),
        _ => Truth::Unknown,
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation on one record
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Truth {
    True,
    False,
    Unknown,
}

impl Truth {
    fn of(b: bool) -> Truth {
        if b {
            Truth::True
        } else {
            Truth::False
        }
    }

    fn not(self) -> Truth {
        match self {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
        }
    }

    fn and(self, other: Truth) -> Truth {
        match (self, other) {
            (Truth::False, _) | (_, Truth::False) => Truth::False,
            (Truth::True, Truth::True) => Truth::True,
            _ => Truth::Unknown,
        }
    }

    fn or(self, other: Truth) -> Truth {
        self.not().and(other.not()).not()
    }
}

fn eval(expr: &Expr, record: &Record) -> Truth {
    match expr {
        Expr::And(items) => {
            let mut t = Truth::True;
            for e in items {
                t = t.and(eval(e, record));
                if t == Truth::False {
                    break;
                }
            }
            t
        }
        Expr::Or(items) => {
            let mut t = Truth::False;
            for e in items {
                t = t.or(eval(e, record));
                if t == Truth::True {
                    break;
                }
            }
            t
        }
        Expr::Not(e) => eval(e, record).not(),
        Expr::Predicate(p) => {
            let mut values: [Option<Value<'_>>; 3] = [None; 3];
            for (slot, op) in values.iter_mut().zip(p.operands()) {
                *slot = resolve(op, record);
            }
            p.eval(&values)
        }
    }
}

/// An operand's value in a record (`None` = NULL).
fn resolve<'a>(op: &'a Operand, record: &'a Record) -> Option<Value<'a>> {
    match op {
        Operand::Literal(l) => Some(l.value()),
        Operand::Key => record.key.as_deref().map(Value::of),
        Operand::Header(name) => record
            .headers
            .iter()
            .find(|(k, _)| k[..] == name[..])
            .and_then(|(_, v)| v.as_deref())
            .map(Value::of),
    }
}

// ---------------------------------------------------------------------------------------------
// Abstract evaluation on a batch summary
// ---------------------------------------------------------------------------------------------

/// A set of truth values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Truths(u8);

impl Truths {
    const EMPTY: Truths = Truths(0);
    const TRUE: Truths = Truths(1);
    const FALSE: Truths = Truths(2);
    const UNKNOWN: Truths = Truths(4);
    const ANY: Truths = Truths(7);
    const MEMBERS: [Truth; 3] = [Truth::True, Truth::False, Truth::Unknown];

    fn of(t: Truth) -> Truths {
        match t {
            Truth::True => Truths::TRUE,
            Truth::False => Truths::FALSE,
            Truth::Unknown => Truths::UNKNOWN,
        }
    }

    fn union(self, other: Truths) -> Truths {
        Truths(self.0 | other.0)
    }

    fn contains(self, other: Truths) -> bool {
        self.0 & other.0 == other.0
    }

    fn members(self) -> impl Iterator<Item = Truth> {
        Truths::MEMBERS
            .into_iter()
            .filter(move |&t| self.contains(Truths::of(t)))
    }

    fn not(self) -> Truths {
        self.members()
            .fold(Truths::EMPTY, |s, t| s.union(Truths::of(t.not())))
    }

    /// `{ f(a, b) | a in self, b in other }`.
    fn pairwise(self, other: Truths, f: fn(Truth, Truth) -> Truth) -> Truths {
        let mut out = Truths::EMPTY;
        for a in self.members() {
            for b in other.members() {
                out = out.union(Truths::of(f(a, b)));
            }
        }
        out
    }
}

fn abstract_eval(expr: &Expr, summary: &BatchSummary) -> Truths {
    match expr {
        Expr::And(items) => {
            let mut t = Truths::TRUE;
            for e in items {
                t = t.pairwise(abstract_eval(e, summary), Truth::and);
                if t == Truths::FALSE {
                    break;
                }
            }
            t
        }
        Expr::Or(items) => {
            let mut t = Truths::FALSE;
            for e in items {
                t = t.pairwise(abstract_eval(e, summary), Truth::or);
                if t == Truths::TRUE {
                    break;
                }
            }
            t
        }
        Expr::Not(e) => abstract_eval(e, summary).not(),
        Expr::Predicate(p) => {
            let t = abstract_predicate(p, summary);
            // Only an inconsistent summary leaves nothing; assume anything then.
            if t == Truths::EMPTY {
                Truths::ANY
            } else {
                t
            }
        }
    }
}

/// What an operand may be across the batch's records.
enum Abstract<'a> {
    /// Exactly these values occur (`None` = NULL); never empty.
    Enumerated(Vec<Option<Value<'a>>>),
    /// Some records have non-null values within `approx` (anything if `None`); others may
    /// be NULL if `may_null`.
    Range {
        may_null: bool,
        approx: Option<&'a Approx>,
    },
}

impl Abstract<'_> {
    fn may_null(&self) -> bool {
        match self {
            Abstract::Enumerated(values) => values.iter().any(Option::is_none),
            Abstract::Range { may_null, .. } => *may_null,
        }
    }
}

fn abstract_operand<'a>(op: &'a Operand, summary: &'a BatchSummary) -> Abstract<'a> {
    let described = match op {
        Operand::Literal(l) => return Abstract::Enumerated(vec![Some(l.value())]),
        Operand::Key => summary.describe(None),
        Operand::Header(name) => summary.describe(Some(name)),
    };
    match described {
        Described::AlwaysNull => Abstract::Enumerated(vec![None]),
        Described::Unknown => Abstract::Range {
            may_null: true,
            approx: None,
        },
        Described::Field(field) => {
            let may_null = field.non_null < summary.record_count();
            match &field.values {
                Values::Exact(values) => {
                    let mut all: Vec<Option<Value<'a>>> =
                        values.iter().map(|v| Some(Value::of(v))).collect();
                    if may_null {
                        all.push(None);
                    }
                    Abstract::Enumerated(all)
                }
                Values::Approx(approx) => Abstract::Range {
                    may_null,
                    approx: Some(approx),
                },
                Values::Undescribed => Abstract::Range {
                    may_null,
                    approx: None,
                },
            }
        }
    }
}

fn abstract_predicate(p: &Predicate, summary: &BatchSummary) -> Truths {
    let operands: Vec<Abstract<'_>> = p
        .operands()
        .iter()
        .map(|op| abstract_operand(op, summary))
        .collect();
    let lists: Option<Vec<&Vec<Option<Value<'_>>>>> = operands
        .iter()
        .map(|a| match a {
            Abstract::Enumerated(values) if !values.is_empty() => Some(values),
            _ => None,
        })
        .collect();
    if let Some(lists) = lists {
        return every_combination(p, &lists);
    }
    match p {
        Predicate::Compare(op, _) => abstract_compare(&operands[0], *op, &operands[1]),
        Predicate::Between(_) => abstract_compare(&operands[0], CmpOp::Ge, &operands[1]).pairwise(
            abstract_compare(&operands[0], CmpOp::Le, &operands[2]),
            Truth::and,
        ),
        Predicate::In(_, list) => {
            // The operand is a range (else it was enumerated): it has non-null values.
            let Abstract::Range { may_null, approx } = &operands[0] else {
                return Truths::ANY;
            };
            let mut t = if *may_null {
                Truths::UNKNOWN
            } else {
                Truths::EMPTY
            };
            let mut may_equal = false;
            let mut must_equal = false;
            for l in list {
                let o = approx.map_or(Orderings::ANY, |a| a.orderings_against(l.value()));
                may_equal |= o.meets(Orderings::EQUAL);
                must_equal |= o == Orderings::EQUAL;
            }
            if may_equal {
                t = t.union(Truths::TRUE);
            }
            if !must_equal {
                t = t.union(Truths::FALSE);
            }
            t
        }
        Predicate::IsNull(_) => {
            // A range has non-null values.
            if operands[0].may_null() {
                Truths::TRUE.union(Truths::FALSE)
            } else {
                Truths::FALSE
            }
        }
    }
}

/// The predicate's truths over every combination of its enumerated operands' values.
fn every_combination(p: &Predicate, lists: &[&Vec<Option<Value<'_>>>]) -> Truths {
    let mut at = [0usize; 3];
    let mut values: [Option<Value<'_>>; 3] = [None; 3];
    let mut t = Truths::EMPTY;
    loop {
        for (i, list) in lists.iter().enumerate() {
            values[i] = list[at[i]];
        }
        t = t.union(Truths::of(p.eval(&values)));
        // Next combination, odometer style; done when every position wrapped.
        let mut i = 0;
        loop {
            if i == lists.len() {
                return t;
            }
            at[i] += 1;
            if at[i] < lists[i].len() {
                break;
            }
            at[i] = 0;
            i += 1;
        }
    }
}

fn abstract_compare(a: &Abstract<'_>, op: CmpOp, b: &Abstract<'_>) -> Truths {
    let mut t = if a.may_null() || b.may_null() {
        Truths::UNKNOWN
    } else {
        Truths::EMPTY
    };
    let o = value_orderings(a, b);
    if o.meets(op.accepts()) {
        t = t.union(Truths::TRUE);
    }
    if !o.minus(op.accepts()).is_empty() {
        t = t.union(Truths::FALSE);
    }
    t
}

/// The orderings the non-null values of `a` may have against those of `b`.
fn value_orderings(a: &Abstract<'_>, b: &Abstract<'_>) -> Orderings {
    let against = |approx: Option<&Approx>, v: Value<'_>| {
        approx.map_or(Orderings::ANY, |x| x.orderings_against(v))
    };
    let mut o = Orderings::NONE;
    match (a, b) {
        (Abstract::Enumerated(xs), Abstract::Enumerated(ys)) => {
            for x in xs.iter().flatten() {
                for y in ys.iter().flatten() {
                    o = o.union(Orderings::of(compare(*x, *y)));
                }
            }
        }
        (Abstract::Range { approx, .. }, Abstract::Enumerated(ys)) => {
            for y in ys.iter().flatten() {
                o = o.union(against(*approx, *y));
            }
        }
        (Abstract::Enumerated(xs), Abstract::Range { approx, .. }) => {
            for x in xs.iter().flatten() {
                o = o.union(against(*approx, *x).reversed());
            }
        }
        (Abstract::Range { .. }, Abstract::Range { .. }) => o = Orderings::ANY,
    }
    o
}

// ---------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keyword {
    And,
    Or,
    Not,
    Between,
    In,
    Is,
    Null,
    True,
    False,
}

const KEYWORDS: [(&str, Keyword); 9] = [
    ("AND", Keyword::And),
    ("OR", Keyword::Or),
    ("NOT", Keyword::Not),
    ("BETWEEN", Keyword::Between),
    ("IN", Keyword::In),
    ("IS", Keyword::Is),
    ("NULL", Keyword::Null),
    ("TRUE", Keyword::True),
    ("FALSE", Keyword::False),
];

#[derive(Clone, Debug, PartialEq)]
enum TokenKind {
    /// A header name (plain or double-quoted identifier).
    Name(Vec<u8>),
    /// `__key`.
    Key,
    Str(Vec<u8>),
    /// A number literal's text.
    Number(String),
    Keyword(Keyword),
    Cmp(CmpOp),
    LParen,
    RParen,
    Comma,
    End,
}

#[derive(Clone, Debug)]
struct Token {
    kind: TokenKind,
    /// 1-based character column of its first character.
    position: usize,
    /// Its source text, shortened, for messages.
    excerpt: String,
}

impl Token {
    fn found(&self) -> String {
        if self.kind == TokenKind::End {
            "the end of the filter".to_owned()
        } else {
            format!("'{}'", self.excerpt)
        }
    }
}

fn error(position: usize, message: impl Into<String>) -> FilterError {
    FilterError {
        position,
        message: message.into(),
    }
}

fn excerpt(chars: &[char]) -> String {
    if chars.len() <= EXCERPT_CHARS_MAX {
        chars.iter().collect()
    } else {
        let mut s: String = chars[..EXCERPT_CHARS_MAX].iter().collect();
        s.push_str("...");
        s
    }
}

fn lex(text: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let next = chars.get(i + 1).copied();
        let kind = match c {
            '(' => {
                i += 1;
                TokenKind::LParen
            }
            ')' => {
                i += 1;
                TokenKind::RParen
            }
            ',' => {
                i += 1;
                TokenKind::Comma
            }
            '=' => {
                i += 1;
                TokenKind::Cmp(CmpOp::Eq)
            }
            '<' => {
                let (op, len) = match next {
                    Some('=') => (CmpOp::Le, 2),
                    Some('>') => (CmpOp::Ne, 2),
                    _ => (CmpOp::Lt, 1),
                };
                i += len;
                TokenKind::Cmp(op)
            }
            '>' => {
                let (op, len) = match next {
                    Some('=') => (CmpOp::Ge, 2),
                    _ => (CmpOp::Gt, 1),
                };
                i += len;
                TokenKind::Cmp(op)
            }
            '!' if next == Some('=') => {
                return Err(error(
                    start + 1,
                    "'!=' is not in the language: write '<>' for not equal",
                ))
            }
            '\'' => {
                let (s, end) = quoted(&chars, start, '\'', "string")?;
                i = end;
                TokenKind::Str(s.into_bytes())
            }
            '"' => {
                let (s, end) = quoted(&chars, start, '"', "quoted header name")?;
                i = end;
                TokenKind::Name(s.into_bytes())
            }
            '-' | '.' | '0'..='9' => {
                i = number_end(&chars, start)?;
                TokenKind::Number(chars[start..i].iter().collect())
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '.')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if word == "__key" {
                    TokenKind::Key
                } else if let Some((_, k)) =
                    KEYWORDS.iter().find(|(k, _)| k.eq_ignore_ascii_case(&word))
                {
                    TokenKind::Keyword(*k)
                } else {
                    TokenKind::Name(word.into_bytes())
                }
            }
            other => {
                return Err(error(
                    start + 1,
                    format!(
                        "unexpected character {other:?}: expected a header name, a literal, an \
                         operator or a parenthesis (header names with characters other than \
                         letters, digits, '_' and '.' go in double quotes)"
                    ),
                ))
            }
        };
        tokens.push(Token {
            kind,
            position: start + 1,
            excerpt: excerpt(&chars[start..i]),
        });
    }
    tokens.push(Token {
        kind: TokenKind::End,
        position: chars.len() + 1,
        excerpt: String::new(),
    });
    Ok(tokens)
}

/// The contents of the quoted token at `start` (doubled quotes stand for one) and the index
/// after its closing quote.
fn quoted(
    chars: &[char],
    start: usize,
    quote: char,
    what: &str,
) -> Result<(String, usize), FilterError> {
    let mut s = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => {
                return Err(error(
                    start + 1,
                    format!("expected a closing {quote} for the {what} that starts here"),
                ))
            }
            Some(&c) if c == quote => {
                if chars.get(i + 1) == Some(&quote) {
                    s.push(quote);
                    i += 2;
                } else {
                    return Ok((s, i + 1));
                }
            }
            Some(&c) => {
                s.push(c);
                i += 1;
            }
        }
    }
}

/// The index after the number literal starting at `start` (grammar in the module docs).
fn number_end(chars: &[char], start: usize) -> Result<usize, FilterError> {
    let digit = |i: usize| chars.get(i).is_some_and(char::is_ascii_digit);
    let mut i = start;
    if chars[i] == '-' {
        i += 1;
    }
    let int_start = i;
    while digit(i) {
        i += 1;
    }
    if chars.get(i) == Some(&'.') {
        i += 1;
        if !digit(i) {
            return Err(error(i + 1, "expected a digit after '.' in the number"));
        }
        while digit(i) {
            i += 1;
        }
    } else if i == int_start {
        return Err(error(i + 1, "expected a digit after '-'"));
    }
    if matches!(chars.get(i), Some('e' | 'E')) {
        i += 1;
        if matches!(chars.get(i), Some('+' | '-')) {
            i += 1;
        }
        if !digit(i) {
            return Err(error(
                i + 1,
                "expected a digit in the exponent of the number",
            ));
        }
        while digit(i) {
            i += 1;
        }
    }
    if let Some(&c) = chars.get(i) {
        if c.is_alphanumeric() || matches!(c, '_' | '.' | '\'' | '"') {
            return Err(error(
                i + 1,
                format!(
                    "unexpected {c:?} right after the number {}: expected a space, an \
                     operator, ',' or ')'",
                    excerpt(&chars[start..i])
                ),
            ));
        }
    }
    Ok(i)
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

/// What may start an expression, for messages.
const EXPRESSION_START: &str = "an expression (a header name, __key, a literal, NOT or '(')";

struct Parser {
    /// Ends with one `End` token, which `bump` never passes.
    tokens: Vec<Token>,
    next: usize,
    /// Open parentheses and `NOT`s around the current position.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.next]
    }

    fn bump(&mut self) -> Token {
        let t = self.tokens[self.next].clone();
        if t.kind != TokenKind::End {
            self.next += 1;
        }
        t
    }

    fn at_keyword(&self, k: Keyword) -> bool {
        self.peek().kind == TokenKind::Keyword(k)
    }

    /// "expected {what}, found {next token}" at the next token.
    fn expected(&self, what: &str) -> FilterError {
        let t = self.peek();
        error(t.position, format!("expected {what}, found {}", t.found()))
    }

    fn enter(&mut self, position: usize) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > NESTING_DEPTH_MAX {
            return Err(error(
                position,
                format!(
                    "nested deeper than {NESTING_DEPTH_MAX} levels of parentheses and NOT: \
                     expected a simpler filter"
                ),
            ));
        }
        Ok(())
    }

    fn filter(&mut self) -> Result<Expr, FilterError> {
        if self.peek().kind == TokenKind::End {
            return Err(error(
                self.peek().position,
                format!("the filter is empty: expected {EXPRESSION_START}"),
            ));
        }
        let e = self.or()?;
        if self.peek().kind != TokenKind::End {
            return Err(self.expected("AND, OR or the end of the filter"));
        }
        Ok(e)
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut items = vec![self.and()?];
        while self.at_keyword(Keyword::Or) {
            self.bump();
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut items = vec![self.not()?];
        while self.at_keyword(Keyword::And) {
            self.bump();
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn not(&mut self) -> Result<Expr, FilterError> {
        let t = self.peek();
        let position = t.position;
        match t.kind {
            TokenKind::Keyword(Keyword::Not) => {
                self.bump();
                self.enter(position)?;
                let inner = self.not()?;
                self.depth -= 1;
                Ok(Expr::Not(Box::new(inner)))
            }
            TokenKind::LParen => {
                self.bump();
                self.enter(position)?;
                let inner = self.or()?;
                if self.peek().kind != TokenKind::RParen {
                    return Err(self.expected(&format!(
                        "AND, OR or ')' to close the '(' at position {position}"
                    )));
                }
                self.bump();
                self.depth -= 1;
                Ok(inner)
            }
            _ => self.predicate(),
        }
    }

    fn predicate(&mut self) -> Result<Expr, FilterError> {
        let left_token = self.peek().clone();
        let left = self.operand(EXPRESSION_START)?;
        let p = match self.peek().kind {
            TokenKind::Cmp(op) => {
                self.bump();
                let right = self.operand(&format!("a value after '{}'", op.symbol()))?;
                Predicate::Compare(op, [left, right])
            }
            TokenKind::Keyword(Keyword::Between) => {
                self.bump();
                self.between(left)?
            }
            TokenKind::Keyword(Keyword::In) => {
                self.bump();
                self.in_list(left)?
            }
            TokenKind::Keyword(Keyword::Not) => {
                self.bump();
                let p = match self.peek().kind {
                    TokenKind::Keyword(Keyword::Between) => {
                        self.bump();
                        self.between(left)?
                    }
                    TokenKind::Keyword(Keyword::In) => {
                        self.bump();
                        self.in_list(left)?
                    }
                    _ => return Err(self.expected("BETWEEN or IN after NOT")),
                };
                return Ok(Expr::Not(Box::new(Expr::Predicate(p))));
            }
            TokenKind::Keyword(Keyword::Is) => {
                self.bump();
                let negated = self.at_keyword(Keyword::Not);
                if negated {
                    self.bump();
                }
                if !self.at_keyword(Keyword::Null) {
                    return Err(self.expected(if negated {
                        "NULL after IS NOT"
                    } else {
                        "NULL or NOT NULL after IS"
                    }));
                }
                self.bump();
                let p = Expr::Predicate(Predicate::IsNull(left));
                return Ok(if negated { Expr::Not(Box::new(p)) } else { p });
            }
            _ => {
                return Err(self.expected(&format!(
                    "a comparison (=, <>, <, <=, >, >=, BETWEEN, IN or IS NULL) after {}",
                    left_token.found()
                )))
            }
        };
        Ok(Expr::Predicate(p))
    }

    fn between(&mut self, value: Operand) -> Result<Predicate, FilterError> {
        let low = self.operand("the lower bound after BETWEEN")?;
        if !self.at_keyword(Keyword::And) {
            return Err(self.expected("AND between the bounds of BETWEEN"));
        }
        self.bump();
        let high = self.operand("the upper bound after AND")?;
        Ok(Predicate::Between([value, low, high]))
    }

    fn in_list(&mut self, value: Operand) -> Result<Predicate, FilterError> {
        if self.peek().kind != TokenKind::LParen {
            return Err(self.expected("'(' after IN"));
        }
        self.bump();
        let mut list = Vec::new();
        loop {
            let what = "a string, number, TRUE or FALSE in the IN list";
            let position = self.peek().position;
            let literal = match self.operand(what)? {
                Operand::Literal(l) => l,
                Operand::Key | Operand::Header(_) => {
                    return Err(error(position, format!("expected {what}, found a name")))
                }
            };
            if list.len() == IN_LIST_LEN_MAX {
                return Err(error(
                    position,
                    format!("the IN list has more than {IN_LIST_LEN_MAX} values"),
                ));
            }
            list.push(literal);
            match self.peek().kind {
                TokenKind::Comma => {
                    self.bump();
                }
                TokenKind::RParen => {
                    self.bump();
                    return Ok(Predicate::In(value, list));
                }
                _ => return Err(self.expected("',' or ')' in the IN list")),
            }
        }
    }

    fn operand(&mut self, what: &str) -> Result<Operand, FilterError> {
        let t = self.peek();
        let op = match &t.kind {
            TokenKind::Name(name) => Operand::Header(name.clone().into()),
            TokenKind::Key => Operand::Key,
            TokenKind::Str(s) => Operand::Literal(Literal::new(s.clone())),
            TokenKind::Number(text) => {
                let literal = Literal::new(text.clone().into_bytes());
                if literal.number.is_none() {
                    // The lexer's number grammar is within parse_number's.
                    return Err(error(t.position, format!("'{text}' is not a number")));
                }
                Operand::Literal(literal)
            }
            TokenKind::Keyword(Keyword::True) => Operand::Literal(Literal::new(b"true".to_vec())),
            TokenKind::Keyword(Keyword::False) => Operand::Literal(Literal::new(b"false".to_vec())),
            _ => return Err(self.expected(what)),
        };
        self.bump();
        Ok(op)
    }
}

// ---------------------------------------------------------------------------------------------
// Test generators (shared with the summary's tests)
// ---------------------------------------------------------------------------------------------

/// Random records, batches and filters, a reference evaluator, for property tests.
#[cfg(test)]
pub(crate) mod testgen {
    use std::cmp::Ordering;

    use bytes::Bytes;

    use crate::runtime::rng::Rng;
    use crate::storage::records::Record;

    /// Header names: more than the summary describes, with some needing quotes.
    pub(crate) const NAMES: [&str; 21] = [
        "tag",
        "amount",
        "region",
        "my-header",
        "x.y",
        "and",
        "__key",
        "h7",
        "h8",
        "h9",
        "h10",
        "h11",
        "h12",
        "h13",
        "h14",
        "h15",
        "h16",
        "h17",
        "h18",
        "h19",
        "it's \"q\"",
    ];

    /// Values that probe the number syntax, bytes order and quoting.
    pub(crate) const VALUES: [&str; 34] = [
        "red",
        "blue",
        "green",
        "Red",
        "",
        "100",
        "100.0",
        "1e2",
        "-1.5",
        "0",
        "-0",
        "+7",
        ".5",
        "5.",
        "abc",
        "true",
        "false",
        "10",
        "99",
        "101",
        "200",
        "2e400",
        "inf",
        "NaN",
        "1_0",
        " 1",
        "z",
        "it's",
        "ü",
        "1.e1",
        "-.5",
        "1e",
        "00100",
        "zzzzzzzzzzzzzzzzzzzzzzzzz",
    ];

    fn pick<'a>(rng: &mut Rng, xs: &[&'a str]) -> &'a str {
        xs[rng.below(xs.len())]
    }

    /// How one column of a batch is filled.
    enum Column {
        Constant(Vec<u8>),
        Pool(Vec<Vec<u8>>),
        Numbers { low: i64, span: i64 },
        Strings,
        Long,
        Anything,
    }

    fn column(rng: &mut Rng) -> Column {
        match rng.below(6) {
            0 => Column::Constant(pick(rng, &VALUES).as_bytes().to_vec()),
            1 => Column::Pool(
                (0..1 + rng.below(4))
                    .map(|_| pick(rng, &VALUES).as_bytes().to_vec())
                    .collect(),
            ),
            2 => Column::Numbers {
                low: rng.below(300) as i64 - 50,
                span: 1 + rng.below(200) as i64,
            },
            3 => Column::Strings,
            4 => Column::Long,
            _ => Column::Anything,
        }
    }

    fn fill(rng: &mut Rng, c: &Column) -> Vec<u8> {
        match c {
            Column::Constant(v) => v.clone(),
            Column::Pool(vs) => vs[rng.below(vs.len())].clone(),
            Column::Numbers { low, span } => {
                let n = low + rng.below(*span as usize) as i64;
                match rng.below(4) {
                    0 => format!("{n}.{}", rng.below(10)),
                    1 => format!("{n}e0"),
                    _ => n.to_string(),
                }
                .into_bytes()
            }
            Column::Strings => format!("s{}", rng.below(40)).into_bytes(),
            Column::Long => {
                let mut v = b"a-long-shared-prefix-".repeat(1 + rng.below(4));
                v.extend_from_slice(format!("{}", rng.below(50)).as_bytes());
                v
            }
            Column::Anything => match rng.below(3) {
                0 => pick(rng, &VALUES).as_bytes().to_vec(),
                1 => {
                    let n = rng.below(12);
                    rng.bytes(n)
                }
                _ => (rng.below(400) as i64 - 100).to_string().into_bytes(),
            },
        }
    }

    /// A random batch: 1 to 30 records, homogeneous or mixed columns, missing and null
    /// headers, duplicate header names, sometimes more names than a summary describes.
    pub(crate) fn batch(rng: &mut Rng) -> Vec<Record> {
        let most = if rng.chance(3) { 3 } else { 30 };
        let records = 1 + rng.below(most);
        let names: Vec<&str> = if rng.chance(6) {
            NAMES.to_vec()
        } else {
            (0..rng.below(5)).map(|_| pick(rng, &NAMES)).collect()
        };
        let columns: Vec<(Column, usize, usize)> = names
            .iter()
            .map(|_| {
                // one-in chances of a missing header and of a null value (0 = never)
                let missing = [0, 0, 2, 5][rng.below(4)];
                let null = [0, 0, 3, 6][rng.below(4)];
                (column(rng), missing, null)
            })
            .collect();
        let key = column(rng);
        let key_null = [0, 2, 1000][rng.below(3)];
        let duplicates = rng.chance(4);
        let shuffle = rng.chance(3);
        (0..records)
            .map(|i| {
                let mut headers = Vec::new();
                for (name, (c, missing, null)) in names.iter().zip(&columns) {
                    if *missing > 0 && rng.chance(*missing) {
                        continue;
                    }
                    let value = if *null > 0 && rng.chance(*null) {
                        None
                    } else {
                        Some(Bytes::from(fill(rng, c)))
                    };
                    headers.push((Bytes::copy_from_slice(name.as_bytes()), value));
                    if duplicates && rng.chance(3) {
                        let v = Bytes::from(fill(rng, &Column::Anything));
                        headers.push((Bytes::copy_from_slice(name.as_bytes()), Some(v)));
                    }
                }
                if shuffle && headers.len() > 1 {
                    let a = rng.below(headers.len());
                    let b = rng.below(headers.len());
                    headers.swap(a, b);
                }
                Record {
                    offset_delta: i as i32,
                    key: if key_null > 0 && rng.chance(key_null) {
                        None
                    } else {
                        Some(Bytes::from(fill(rng, &key)))
                    },
                    value: Some(Bytes::from_static(b"v")),
                    headers,
                    ..Record::default()
                }
            })
            .collect()
    }

    /// A reference filter: the test's own syntax tree.
    #[derive(Clone, Debug)]
    pub(crate) enum TExpr {
        And(Box<TExpr>, Box<TExpr>),
        Or(Box<TExpr>, Box<TExpr>),
        Not(Box<TExpr>),
        Cmp(&'static str, TOperand, TOperand),
        Between(bool, TOperand, TOperand, TOperand),
        In(bool, TOperand, Vec<TLit>),
        IsNull(bool, TOperand),
    }

    #[derive(Clone, Debug)]
    pub(crate) enum TOperand {
        Key,
        Header(String),
        Lit(TLit),
    }

    #[derive(Clone, Debug)]
    pub(crate) enum TLit {
        Str(String),
        /// Text in the literal number syntax.
        Num(String),
        Bool(bool),
    }

    const OPS: [&str; 6] = ["=", "<>", "<", "<=", ">", ">="];
    const NUMBER_LITERALS: [&str; 12] = [
        "100", "-1.5", "0", "1e2", ".5", "10", "99", "101", "200", "-0", "7", "1E+2",
    ];

    fn literal(rng: &mut Rng) -> TLit {
        match rng.below(5) {
            0 | 1 => TLit::Str(pick(rng, &VALUES).to_owned()),
            2 => TLit::Num(pick(rng, &NUMBER_LITERALS).to_owned()),
            3 => TLit::Num((rng.below(400) as i64 - 100).to_string()),
            _ => TLit::Bool(rng.chance(2)),
        }
    }

    fn operand(rng: &mut Rng, names: &[&str]) -> TOperand {
        match rng.below(8) {
            0 => TOperand::Key,
            1 | 2 => TOperand::Lit(literal(rng)),
            3 | 4 => TOperand::Header(pick(rng, &names[..names.len().min(4)]).to_owned()),
            _ => TOperand::Header(pick(rng, names).to_owned()),
        }
    }

    /// A random filter of at most `depth` levels of AND/OR/NOT over [`NAMES`].
    pub(crate) fn expr(rng: &mut Rng, depth: usize) -> TExpr {
        expr_over(rng, depth, &NAMES)
    }

    /// A random filter of at most `depth` levels of AND/OR/NOT over header `names` (the
    /// first four more often).
    pub(crate) fn expr_over(rng: &mut Rng, depth: usize, names: &[&str]) -> TExpr {
        let leaf = depth == 0 || rng.chance(3);
        if !leaf {
            let sub = |rng: &mut Rng| Box::new(expr_over(rng, depth - 1, names));
            return match rng.below(3) {
                0 => TExpr::And(sub(rng), sub(rng)),
                1 => TExpr::Or(sub(rng), sub(rng)),
                _ => TExpr::Not(sub(rng)),
            };
        }
        let some_operand = |rng: &mut Rng| operand(rng, names);
        match rng.below(6) {
            0 | 1 => {
                // Mostly a header against a literal, the usual shape.
                let (a, b) = if rng.chance(4) {
                    (some_operand(rng), some_operand(rng))
                } else {
                    let h = TOperand::Header(pick(rng, &names[..names.len().min(4)]).to_owned());
                    let l = TOperand::Lit(literal(rng));
                    if rng.chance(5) {
                        (l, h)
                    } else {
                        (h, l)
                    }
                };
                TExpr::Cmp(OPS[rng.below(OPS.len())], a, b)
            }
            2 => TExpr::Between(
                rng.chance(3),
                some_operand(rng),
                if rng.chance(4) {
                    some_operand(rng)
                } else {
                    TOperand::Lit(literal(rng))
                },
                if rng.chance(4) {
                    some_operand(rng)
                } else {
                    TOperand::Lit(literal(rng))
                },
            ),
            3 => TExpr::In(
                rng.chance(3),
                some_operand(rng),
                (0..1 + rng.below(4)).map(|_| literal(rng)).collect(),
            ),
            4 => TExpr::IsNull(rng.chance(2), some_operand(rng)),
            _ => TExpr::Cmp(
                OPS[rng.below(OPS.len())],
                TOperand::Key,
                TOperand::Lit(literal(rng)),
            ),
        }
    }

    fn keyword(rng: &mut Rng, k: &str) -> String {
        match rng.below(3) {
            0 => k.to_owned(),
            1 => k.to_lowercase(),
            _ => k
                .chars()
                .map(|c| {
                    if rng.chance(2) {
                        c.to_ascii_lowercase()
                    } else {
                        c
                    }
                })
                .collect(),
        }
    }

    fn space(rng: &mut Rng) -> &'static str {
        [" ", " ", "  ", "\n", "\t "][rng.below(5)]
    }

    fn maybe_space(rng: &mut Rng) -> &'static str {
        if rng.chance(2) {
            ""
        } else {
            space(rng)
        }
    }

    fn is_plain_name(s: &str) -> bool {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            && ![
                "and", "or", "not", "between", "in", "is", "null", "true", "false",
            ]
            .contains(&s.to_ascii_lowercase().as_str())
            && s != "__key"
    }

    fn render_literal(rng: &mut Rng, l: &TLit) -> String {
        match l {
            TLit::Str(s) => format!("'{}'", s.replace('\'', "''")),
            TLit::Num(n) => n.clone(),
            TLit::Bool(b) => keyword(rng, if *b { "TRUE" } else { "FALSE" }),
        }
    }

    fn render_operand(rng: &mut Rng, o: &TOperand) -> String {
        match o {
            TOperand::Key => "__key".to_owned(),
            TOperand::Header(h) if is_plain_name(h) => h.clone(),
            TOperand::Header(h) => format!("\"{}\"", h.replace('"', "\"\"")),
            TOperand::Lit(l) => render_literal(rng, l),
        }
    }

    /// Filter text for `e`, with the fewest parentheses precedence allows (plus some spare
    /// ones), random keyword case and spacing.
    pub(crate) fn render(rng: &mut Rng, e: &TExpr) -> String {
        render_in(rng, e, 0)
    }

    /// `context`: 0 = anywhere, 1 = operand of OR, 2 = of AND, 3 = of NOT.
    fn render_in(rng: &mut Rng, e: &TExpr, context: u8) -> String {
        let (own, text) = match e {
            TExpr::Or(a, b) => {
                let a = render_in(rng, a, 1);
                let b = render_in(rng, b, 1);
                let or = keyword(rng, "OR");
                let (s1, s2) = (space(rng), space(rng));
                (1, format!("{a}{s1}{or}{s2}{b}"))
            }
            TExpr::And(a, b) => {
                let a = render_in(rng, a, 2);
                let b = render_in(rng, b, 2);
                let and = keyword(rng, "AND");
                let (s1, s2) = (space(rng), space(rng));
                (2, format!("{a}{s1}{and}{s2}{b}"))
            }
            TExpr::Not(a) => {
                let a = render_in(rng, a, 3);
                let not = keyword(rng, "NOT");
                let s = space(rng);
                (3, format!("{not}{s}{a}"))
            }
            TExpr::Cmp(op, a, b) => {
                let a = render_operand(rng, a);
                let b = render_operand(rng, b);
                let (s1, s2) = (maybe_space(rng), maybe_space(rng));
                (4, format!("{a}{s1}{op}{s2}{b}"))
            }
            TExpr::Between(negated, v, lo, hi) => {
                let v = render_operand(rng, v);
                let lo = render_operand(rng, lo);
                let hi = render_operand(rng, hi);
                let not = if *negated {
                    format!("{}{}", keyword(rng, "NOT"), space(rng))
                } else {
                    String::new()
                };
                let between = keyword(rng, "BETWEEN");
                let and = keyword(rng, "AND");
                (4, format!("{v} {not}{between} {lo} {and} {hi}"))
            }
            TExpr::In(negated, v, list) => {
                let v = render_operand(rng, v);
                let items: Vec<String> = list.iter().map(|l| render_literal(rng, l)).collect();
                let sep = format!(",{}", maybe_space(rng));
                let not = if *negated {
                    format!("{} ", keyword(rng, "NOT"))
                } else {
                    String::new()
                };
                let open = maybe_space(rng);
                (
                    4,
                    format!(
                        "{v} {not}{}{open}({})",
                        keyword(rng, "IN"),
                        items.join(&sep)
                    ),
                )
            }
            TExpr::IsNull(negated, v) => {
                let v = render_operand(rng, v);
                let not = if *negated {
                    format!("{} ", keyword(rng, "NOT"))
                } else {
                    String::new()
                };
                (
                    4,
                    format!("{v} {} {not}{}", keyword(rng, "IS"), keyword(rng, "NULL")),
                )
            }
        };
        if own < context || rng.chance(6) {
            format!("({}{text}{})", maybe_space(rng), maybe_space(rng))
        } else {
            text
        }
    }

    fn reference_number(b: &[u8]) -> Option<f64> {
        let s = std::str::from_utf8(b).ok()?;
        if s.chars().any(|c| c.is_alphabetic() && c != 'e' && c != 'E') {
            return None; // Rust also reads "inf" and "NaN"
        }
        s.parse().ok()
    }

    fn reference_value(o: &TOperand, r: &Record) -> Option<Vec<u8>> {
        match o {
            TOperand::Key => r.key.as_ref().map(|k| k.to_vec()),
            TOperand::Header(h) => {
                let (_, v) = r.headers.iter().find(|(k, _)| &k[..] == h.as_bytes())?;
                v.as_ref().map(|v| v.to_vec())
            }
            TOperand::Lit(TLit::Str(s) | TLit::Num(s)) => Some(s.as_bytes().to_vec()),
            TOperand::Lit(TLit::Bool(b)) => Some(b.to_string().into_bytes()),
        }
    }

    fn reference_compare(a: &[u8], b: &[u8]) -> Ordering {
        match (reference_number(a), reference_number(b)) {
            (Some(x), Some(y)) => x.partial_cmp(&y).expect("no NaN"),
            _ => a.cmp(b),
        }
    }

    fn reference_cmp(op: &str, a: &TOperand, b: &TOperand, r: &Record) -> Option<bool> {
        let o = reference_compare(&reference_value(a, r)?, &reference_value(b, r)?);
        Some(match op {
            "=" => o == Ordering::Equal,
            "<>" => o != Ordering::Equal,
            "<" => o == Ordering::Less,
            "<=" => o != Ordering::Greater,
            ">" => o == Ordering::Greater,
            ">=" => o != Ordering::Less,
            _ => unreachable!("{op}"),
        })
    }

    fn reference_and(a: Option<bool>, b: Option<bool>) -> Option<bool> {
        match (a, b) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        }
    }

    /// SQL's three-valued truth of `e` on `r` (`None` = UNKNOWN).
    pub(crate) fn reference(e: &TExpr, r: &Record) -> Option<bool> {
        let negate = |negated: bool, t: Option<bool>| t.map(|t| t != negated);
        match e {
            TExpr::And(a, b) => reference_and(reference(a, r), reference(b, r)),
            TExpr::Or(a, b) => match (reference(a, r), reference(b, r)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            TExpr::Not(a) => reference(a, r).map(|t| !t),
            TExpr::Cmp(op, a, b) => reference_cmp(op, a, b, r),
            TExpr::Between(negated, v, lo, hi) => negate(
                *negated,
                reference_and(reference_cmp(">=", v, lo, r), reference_cmp("<=", v, hi, r)),
            ),
            TExpr::In(negated, v, list) => {
                let x = reference_value(v, r)?;
                let found = list.iter().any(|l| {
                    let l = reference_value(&TOperand::Lit(l.clone()), r).expect("literal");
                    reference_compare(&x, &l) == Ordering::Equal
                });
                Some(found != *negated)
            }
            TExpr::IsNull(negated, v) => Some(reference_value(v, r).is_none() != *negated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testgen::{self, TExpr};
    use super::*;
    use crate::runtime::rng::Rng;
    use bytes::Bytes;

    fn record(key: Option<&str>, headers: &[(&str, Option<&str>)]) -> Record {
        Record {
            key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            headers: headers
                .iter()
                .map(|(n, v)| {
                    (
                        Bytes::copy_from_slice(n.as_bytes()),
                        v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
                    )
                })
                .collect(),
            ..Record::default()
        }
    }

    fn filter(text: &str) -> Filter {
        Filter::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    /// The filter's truth on a record.
    fn truth(text: &str, r: &Record) -> Truth {
        eval(&filter(text).expr, r)
    }

    /// Fully parenthesized shape of a parsed filter.
    fn shape(e: &Expr) -> String {
        let operand = |o: &Operand| match o {
            Operand::Key => "__key".to_owned(),
            Operand::Header(h) => String::from_utf8_lossy(h).into_owned(),
            Operand::Literal(l) => format!("'{}'", String::from_utf8_lossy(&l.bytes)),
        };
        match e {
            Expr::And(items) => format!(
                "({})",
                items.iter().map(shape).collect::<Vec<_>>().join(" AND ")
            ),
            Expr::Or(items) => format!(
                "({})",
                items.iter().map(shape).collect::<Vec<_>>().join(" OR ")
            ),
            Expr::Not(e) => format!("NOT {}", shape(e)),
            Expr::Predicate(Predicate::Compare(op, [a, b])) => {
                format!("{}{}{}", operand(a), op.symbol(), operand(b))
            }
            Expr::Predicate(Predicate::Between([v, lo, hi])) => {
                format!("{} BETWEEN {} AND {}", operand(v), operand(lo), operand(hi))
            }
            Expr::Predicate(Predicate::In(v, list)) => format!(
                "{} IN ({})",
                operand(v),
                list.iter()
                    .map(|l| format!("'{}'", String::from_utf8_lossy(&l.bytes)))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Expr::Predicate(Predicate::IsNull(v)) => format!("{} IS NULL", operand(v)),
        }
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let cases = [
            ("a = 1 OR b = 2 AND c = 3", "(a='1' OR (b='2' AND c='3'))"),
            ("a = 1 AND b = 2 OR c = 3", "((a='1' AND b='2') OR c='3')"),
            ("NOT a = 1 AND b = 2", "(NOT a='1' AND b='2')"),
            ("NOT (a = 1 AND b = 2)", "NOT (a='1' AND b='2')"),
            (
                "a=1 or b=2 or c=3 and d=4",
                "(a='1' OR b='2' OR (c='3' AND d='4'))",
            ),
            ("(a = 1 OR b = 2) AND c = 3", "((a='1' OR b='2') AND c='3')"),
            ("NOT NOT a = 1", "NOT NOT a='1'"),
            (
                "a BETWEEN 1 AND 2 AND b = 3",
                "(a BETWEEN '1' AND '2' AND b='3')",
            ),
            ("a NOT BETWEEN 1 AND 2", "NOT a BETWEEN '1' AND '2'"),
            ("a NOT IN ('x', 'y')", "NOT a IN ('x','y')"),
            ("a IS NOT NULL", "NOT a IS NULL"),
            ("a is null", "a IS NULL"),
            ("'red' = tag", "'red'=tag"),
            ("x.y <> TRUE", "x.y<>'true'"),
            ("\"my-header\" >= false", "my-header>='false'"),
            ("\"say \"\"hi\"\"\" = 'it''s'", "say \"hi\"='it's'"),
            ("__key < -1.5", "__key<'-1.5'"),
            ("\"__key\" <= .5e3", "__key<='.5e3'"),
            ("((((a=1))))", "a='1'"),
        ];
        for (text, expected) in cases {
            assert_eq!(shape(&filter(text).expr), expected, "{text}");
        }
        // The quoted "__key" is a header, the plain one the key.
        assert!(matches!(
            filter("\"__key\" = 'x'").expr,
            Expr::Predicate(Predicate::Compare(_, [Operand::Header(_), _]))
        ));
        assert!(matches!(
            filter("__key = 'x'").expr,
            Expr::Predicate(Predicate::Compare(_, [Operand::Key, _]))
        ));
        assert_eq!(filter(" tag = 'red' ").text(), " tag = 'red' ");
    }

    #[test]
    fn every_operator_evaluates() {
        let r = record(
            Some("k1"),
            &[
                ("tag", Some("red")),
                ("amount", Some("150")),
                ("price", Some("9.5")),
                ("name", Some("bob")),
                ("empty", None),
                ("my-header", Some("x")),
                ("amount", Some("1")),
            ],
        );
        let t = Truth::True;
        let f = Truth::False;
        let u = Truth::Unknown;
        let cases = [
            ("tag = 'red'", t),
            ("tag = 'RED'", f),
            ("tag <> 'red'", f),
            ("tag <> 'blue'", t),
            ("amount > 100", t),
            ("amount > 150", f),
            ("amount >= 150", t),
            ("amount < 150", f),
            ("amount <= 150", t),
            ("amount = 150.0", t),
            ("amount = '1.5e2'", t),
            ("amount = 1e2", f),
            ("amount = 1", f),
            ("amount > 20", t),
            ("amount > '20'", t),
            ("name > 'alice'", t),
            ("name < 'b'", f),
            ("price BETWEEN 9 AND 10", t),
            ("price BETWEEN 9.6 AND 10", f),
            ("price NOT BETWEEN 9.6 AND 10", t),
            ("price between 9.5 and 9.5", t),
            ("tag IN ('blue', 'red')", t),
            ("tag IN ('blue')", f),
            ("tag NOT IN ('blue')", t),
            ("amount IN (1, 150.0)", t),
            ("tag IS NULL", f),
            ("tag IS NOT NULL", t),
            ("empty IS NULL", t),
            ("missing IS NULL", t),
            ("missing IS NOT NULL", f),
            ("__key = 'k1'", t),
            ("__key IS NULL", f),
            ("\"my-header\" = 'x'", t),
            ("1 = 1.0", t),
            ("'a' < 'b'", t),
            ("TRUE = 'true'", t),
            ("-1.5 < 0", t),
            ("NOT tag = 'red'", f),
            ("tag = 'red' AND amount > 100", t),
            ("tag = 'red' AND amount > 200", f),
            ("tag = 'blue' OR amount > 100", t),
            ("tag = 'blue' OR amount > 200", f),
            // NULL: three-valued logic.
            ("empty = 'x'", u),
            ("empty <> 'x'", u),
            ("missing > 1", u),
            ("NOT missing = 1", u),
            ("missing = missing", u),
            ("missing BETWEEN 1 AND 2", u),
            ("missing NOT BETWEEN 1 AND 2", u),
            ("amount BETWEEN missing AND 100", f),
            ("amount BETWEEN missing AND 200", u),
            ("missing IN ('a')", u),
            ("missing NOT IN ('a')", u),
            ("missing = 1 AND tag = 'red'", u),
            ("missing = 1 AND tag = 'blue'", f),
            ("missing = 1 OR tag = 'red'", t),
            ("missing = 1 OR tag = 'blue'", u),
            ("NOT (missing = 1 OR tag = 'blue')", u),
        ];
        for (text, expected) in cases {
            assert_eq!(truth(text, &r), expected, "{text}");
            assert_eq!(filter(text).matches(&r), expected == t, "{text}");
        }
        let null_key = record(None, &[]);
        assert_eq!(truth("__key = 'k1'", &null_key), u);
        assert_eq!(truth("__key IS NULL", &null_key), t);
    }

    #[test]
    fn numbers_follow_one_syntax() {
        for (s, n) in [
            ("100", 100.0),
            ("+7", 7.0),
            ("-1.5", -1.5),
            (".5", 0.5),
            ("5.", 5.0),
            ("1e2", 100.0),
            ("1.E-1", 0.1),
            ("-0", 0.0),
        ] {
            assert_eq!(parse_number(s.as_bytes()), Some(n), "{s}");
        }
        for s in [
            "", "+", "-", ".", "e5", "1e", "1e+", "inf", "NaN", "infinity", " 1", "1 ", "1_0",
            "0x10", "1.2.3", "--1", "١",
        ] {
            assert_eq!(parse_number(s.as_bytes()), None, "{s}");
        }
        assert_eq!(parse_number(b"1e400"), Some(f64::INFINITY));
    }

    fn refused(text: &str) -> FilterError {
        match Filter::parse(text) {
            Ok(_) => panic!("{text:?} was accepted"),
            Err(e) => e,
        }
    }

    #[test]
    fn errors_say_where_and_what_was_expected() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 1, "the filter is empty: expected an expression"),
            ("   ", 4, "the filter is empty"),
            ("tag =", 6, "expected a value after '=', found the end of the filter"),
            ("tag = 'red' AND amount >", 25, "expected a value after '>'"),
            ("amount = AND", 10, "expected a value after '=', found 'AND'"),
            ("tag 'red'", 5, "expected a comparison (=, <>, <, <=, >, >=, BETWEEN, IN or IS NULL) after 'tag', found ''red''"),
            ("tag", 4, "found the end of the filter"),
            ("tag = 'red", 7, "expected a closing ' for the string that starts here"),
            ("\"tag = 'red'", 1, "expected a closing \" for the quoted header name"),
            ("tag != 'red'", 5, "write '<>' for not equal"),
            ("tag == 'red'", 6, "expected a value after '='"),
            ("(tag = 'red'", 13, "expected AND, OR or ')' to close the '(' at position 1"),
            ("tag = 'red')", 12, "expected AND, OR or the end of the filter, found ')'"),
            ("tag = 'red' tag", 13, "expected AND, OR or the end of the filter, found 'tag'"),
            ("a BETWEEN 1 OR 2", 13, "expected AND between the bounds of BETWEEN, found 'OR'"),
            ("a BETWEEN AND 2", 11, "expected the lower bound after BETWEEN"),
            ("a BETWEEN 1 AND", 16, "expected the upper bound after AND"),
            ("a IN 'x'", 6, "expected '(' after IN"),
            ("a IN ()", 7, "expected a string, number, TRUE or FALSE in the IN list, found ')'"),
            ("a IN ('x' 'y')", 11, "expected ',' or ')' in the IN list"),
            ("a IN ('x', b)", 12, "expected a string, number, TRUE or FALSE in the IN list, found a name"),
            ("a IN ('x',", 11, "found the end of the filter"),
            ("a NOT LIKE 'x'", 7, "expected BETWEEN or IN after NOT"),
            ("a IS 'x'", 6, "expected NULL or NOT NULL after IS"),
            ("a IS NOT 1", 10, "expected NULL after IS NOT"),
            ("a = -", 6, "expected a digit after '-'"),
            ("a = 1.", 7, "expected a digit after '.' in the number"),
            ("a = 1e", 7, "expected a digit in the exponent"),
            ("a = 12abc", 7, "unexpected 'a' right after the number 12"),
            ("a = 1.2.3", 8, "unexpected '.' right after the number 1.2"),
            ("a = 1 AND b # 2", 13, "unexpected character '#'"),
            ("héllo = 1", 2, "unexpected character 'é'"),
            ("é = 1", 1, "go in double quotes"),
            ("'é' = 'ü' AND", 14, "expected an expression"),
            ("AND = 1", 1, "expected an expression (a header name, __key, a literal, NOT or '('), found 'AND'"),
            ("NOT", 4, "expected an expression"),
            ("()", 2, "expected an expression"),
            ("a = null", 5, "expected a value after '=', found 'null'"),
            ("a = 1 OR", 9, "expected an expression"),
        ];
        for &(text, position, message) in cases {
            let e = refused(text);
            assert!(
                e.position == position && e.message.contains(message),
                "{text:?}: got {e} (position {}), expected position {position}: {message:?}",
                e.position
            );
            assert_eq!(
                e.to_string(),
                format!("at position {position}: {}", e.message)
            );
        }
        // The brief's example form.
        assert_eq!(
            refused("amount > 1 AND tag =").to_string(),
            "at position 21: expected a value after '=', found the end of the filter"
        );
        // Long tokens are shortened in messages.
        let long = format!("{} x", "a".repeat(100));
        assert!(refused(&long)
            .message
            .contains(&format!("'{}...'", "a".repeat(24))));
    }

    #[test]
    fn text_length_is_bounded() {
        let at_max = format!("a = '{}'", "x".repeat(FILTER_TEXT_BYTES_MAX - 6));
        assert_eq!(at_max.len(), FILTER_TEXT_BYTES_MAX);
        filter(&at_max);
        let past = format!("a = '{}'", "x".repeat(FILTER_TEXT_BYTES_MAX - 5));
        let e = refused(&past);
        assert_eq!(e.position, FILTER_TEXT_BYTES_MAX + 1);
        assert!(e.message.contains("at most 4096 bytes"), "{e}");
        // Positions count characters: 2-byte characters make the limit come earlier.
        let wide = format!("a = '{}'", "é".repeat(FILTER_TEXT_BYTES_MAX / 2));
        let e = refused(&wide);
        assert_eq!(e.position, 5 + (FILTER_TEXT_BYTES_MAX - 5) / 2 + 1);
        // A huge hostile text is refused at once.
        let e = refused(&"(".repeat(1 << 20));
        assert_eq!(e.position, FILTER_TEXT_BYTES_MAX + 1);
    }

    #[test]
    fn nesting_is_bounded() {
        let parens = |n: usize| format!("{}a = 1{}", "(".repeat(n), ")".repeat(n));
        filter(&parens(NESTING_DEPTH_MAX));
        let e = refused(&parens(NESTING_DEPTH_MAX + 1));
        assert_eq!(e.position, NESTING_DEPTH_MAX + 1);
        assert!(e.message.contains("nested deeper than 64"), "{e}");

        let nots = |n: usize| format!("{}a = 1", "NOT ".repeat(n));
        let f = filter(&nots(NESTING_DEPTH_MAX));
        assert!(
            f.matches(&record(None, &[("a", Some("1"))])),
            "64 NOTs cancel out"
        );
        let e = refused(&nots(NESTING_DEPTH_MAX + 1));
        assert_eq!(e.position, 4 * NESTING_DEPTH_MAX + 1);

        // Parentheses and NOTs count together.
        let mixed = format!("{}a = 1{}", "NOT (".repeat(32), ")".repeat(32));
        filter(&mixed);
        let e = refused(&format!("NOT {mixed}"));
        assert!(e.message.contains("nested deeper"), "{e}");

        // The longest texts within the length limit are refused without a deep recursion.
        for unit in ["(", "NOT ", "not(", "((NOT "] {
            let text = unit.repeat(FILTER_TEXT_BYTES_MAX / unit.len());
            assert!(refused(&text).message.contains("nested deeper"), "{unit}");
        }

        // A long flat chain of ANDs is not nesting (and stays flat in the tree).
        let chain = vec!["a = 1"; 400].join(" AND ");
        assert!(chain.len() <= FILTER_TEXT_BYTES_MAX);
        let f = filter(&chain);
        assert!(f.matches(&record(None, &[("a", Some("1"))])));
        assert_eq!(
            f.decide(&BatchSummary::of_records(&[record(
                None,
                &[("a", Some("1"))]
            )])),
            Decision::All
        );
    }

    #[test]
    fn in_lists_are_bounded() {
        let list = |n: usize| {
            let items: Vec<String> = (0..n).map(|i| i.to_string()).collect();
            format!("a IN ({})", items.join(","))
        };
        let f = filter(&list(IN_LIST_LEN_MAX));
        assert!(f.matches(&record(None, &[("a", Some("255"))])));
        let text = list(IN_LIST_LEN_MAX + 1);
        let e = refused(&text);
        assert_eq!(e.position, text.rfind(",256").expect("last item") + 2);
        assert!(e.message.contains("more than 256 values"), "{e}");
    }

    #[test]
    fn garbage_never_panics() {
        const PIECES: [&str; 40] = [
            "(", ")", "'", "\"", "''", "\"\"", ",", "=", "<", ">", "<>", "<=", ">=", "!", "-", ".",
            "e", "1", "1.5", "-2", " ", "\n", "a", "tag", "__key", "AND", "or", "NOT", "between",
            "IN", "IS", "NULL", "TRUE", "false", "é", "\u{0}", "#", "x.y", "'red'", "\"h-1\"",
        ];
        let mut rng = Rng::new(0x6a7b_a6e0);
        let records: Vec<Record> = (0..8).map(|_| testgen::batch(&mut rng).remove(0)).collect();
        let summary = BatchSummary::of_records(&records);
        let mut accepted = 0;
        for case in 0..30_000 {
            let text: String = if case % 3 == 0 {
                let n = rng.below(40);
                String::from_utf8_lossy(&rng.bytes(n)).into_owned()
            } else if case % 3 == 1 {
                // A valid filter with a few characters deleted, replaced or doubled.
                let e = testgen::expr(&mut rng, 3);
                let mut chars: Vec<char> = testgen::render(&mut rng, &e).chars().collect();
                for _ in 0..rng.below(3) {
                    if chars.is_empty() {
                        break;
                    }
                    let i = rng.below(chars.len());
                    match rng.below(3) {
                        0 => {
                            chars.remove(i);
                        }
                        1 => {
                            chars[i] = PIECES[rng.below(PIECES.len())]
                                .chars()
                                .next()
                                .unwrap_or('x')
                        }
                        _ => chars.insert(i, chars[i]),
                    }
                }
                chars.into_iter().collect()
            } else {
                (0..rng.below(25))
                    .map(|_| PIECES[rng.below(PIECES.len())])
                    .collect()
            };
            match Filter::parse(&text) {
                Ok(f) => {
                    accepted += 1;
                    assert_eq!(f.text(), text);
                    for r in &records {
                        f.matches(r);
                    }
                    f.decide(&summary);
                }
                Err(e) => {
                    let chars = text.chars().count();
                    assert!(
                        (1..=chars + 1).contains(&e.position),
                        "{text:?}: position {} of {chars} characters",
                        e.position
                    );
                    assert!(!e.message.is_empty());
                }
            }
        }
        assert!(accepted > 3000, "only {accepted} random filters parsed");
    }

    #[test]
    fn matches_agrees_with_a_reference_evaluator() {
        let mut rng = Rng::new(0x17_f117e2);
        let mut outcomes = [0usize; 3];
        for case in 0..3000 {
            let e: TExpr = testgen::expr(&mut rng, 4);
            let text = testgen::render(&mut rng, &e);
            let f = Filter::parse(&text)
                .unwrap_or_else(|err| panic!("case {case}: {text:?} refused: {err}"));
            for r in testgen::batch(&mut rng).iter().take(5) {
                let expected = testgen::reference(&e, r);
                outcomes[match expected {
                    Some(true) => 0,
                    Some(false) => 1,
                    None => 2,
                }] += 1;
                let got = eval(&f.expr, r);
                let want = match expected {
                    Some(true) => Truth::True,
                    Some(false) => Truth::False,
                    None => Truth::Unknown,
                };
                assert_eq!(got, want, "case {case}: {text:?} on {r:?}");
                assert_eq!(f.matches(r), expected == Some(true));
            }
        }
        // Every outcome is well represented.
        assert!(outcomes.iter().all(|&n| n > 1000), "{outcomes:?}");
    }

    #[test]
    fn decide_is_sound() {
        let mut rng = Rng::new(0xdec1de);
        let mut decisions = [0usize; 3];
        for case in 0..3000 {
            let batch = testgen::batch(&mut rng);
            let summary = BatchSummary::of_records(&batch);
            let mut bytes = Vec::new();
            summary.encode(&mut bytes);
            let decoded = BatchSummary::decode(&bytes).expect("decodes");
            for _ in 0..8 {
                let e = testgen::expr(&mut rng, 3);
                let text = testgen::render(&mut rng, &e);
                let f = filter(&text);
                let d = f.decide(&summary);
                assert_eq!(f.decide(&decoded), d);
                let matching = batch.iter().filter(|r| f.matches(r)).count();
                match d {
                    Decision::All => assert_eq!(
                        matching,
                        batch.len(),
                        "case {case}: All for {text:?} but {matching} of {} match; {summary:?}",
                        batch.len()
                    ),
                    Decision::None => assert_eq!(
                        matching, 0,
                        "case {case}: None for {text:?} but {matching} match; {summary:?}"
                    ),
                    Decision::Mixed => {}
                }
                decisions[d as usize] += 1;
            }
        }
        // The test is not vacuous: many batches are decided without reading them.
        assert!(
            decisions[0] > 1000 && decisions[1] > 4000,
            "All/None/Mixed: {decisions:?}"
        );
    }

    #[test]
    fn decide_is_sound_when_the_budget_drops_names() {
        // 16 names of 60 bytes: even undescribed they pass SUMMARY_BYTES_MAX, so some are
        // dropped and the names become incomplete.
        let names: Vec<String> = (0..16)
            .map(|i| format!("h{i:02}{}", "n".repeat(57)))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut rng = Rng::new(0xb0d6e7);
        let mut decided = 0;
        for case in 0..300 {
            let records = 1 + rng.below(20);
            let batch: Vec<Record> = (0..records)
                .map(|_| {
                    let mut headers: Vec<(&str, Option<&str>)> = Vec::new();
                    for n in &names {
                        if !rng.chance(4) {
                            headers.push((n, Some(testgen::VALUES[rng.below(6)])));
                        }
                    }
                    record(Some("k"), &headers)
                })
                .collect();
            let summary = BatchSummary::of_records(&batch);
            assert!(summary.encoded_len() <= crate::view::summary::SUMMARY_BYTES_MAX);
            for _ in 0..10 {
                let e = testgen::expr_over(&mut rng, 3, &names);
                let text = testgen::render(&mut rng, &e);
                let f = filter(&text);
                let matching = batch.iter().filter(|r| f.matches(r)).count();
                match f.decide(&summary) {
                    Decision::All => assert_eq!(matching, batch.len(), "case {case}: {text}"),
                    Decision::None => assert_eq!(matching, 0, "case {case}: {text}"),
                    Decision::Mixed => continue,
                }
                decided += 1;
            }
        }
        assert!(decided > 300, "only {decided} decided");
        let full: Vec<(&str, Option<&str>)> = names.iter().map(|n| (*n, Some("red"))).collect();
        let s = BatchSummary::of_records(&[record(None, &full)]);
        // Largest first: every field is cut to its count, then the last names are dropped.
        assert!(!s.names_complete(), "names were dropped to fit");
        let decide = |text: String| filter(&text).decide(&s);
        assert_eq!(decide(format!("{} IS NOT NULL", names[0])), Decision::All);
        assert_eq!(decide(format!("{} = 'red'", names[0])), Decision::Mixed);
        assert_eq!(
            decide(format!("{} IS NOT NULL", names[15])),
            Decision::Mixed
        );
    }

    #[test]
    fn decide_is_precise_on_homogeneous_batches() {
        let batch = |tag: &str, amounts: &[&str]| -> BatchSummary {
            let records: Vec<Record> = amounts
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let key = format!("order-{i}");
                    record(
                        Some(&key),
                        &[
                            ("tag", Some(tag)),
                            ("amount", Some(a)),
                            ("region", Some("eu")),
                        ],
                    )
                })
                .collect();
            BatchSummary::of_records(&records)
        };
        let amounts: Vec<String> = (0..50).map(|i| (101 + i * 7).to_string()).collect();
        let amounts: Vec<&str> = amounts.iter().map(String::as_str).collect();
        let red = batch("red", &amounts);
        let cases = [
            ("tag = 'red'", Decision::All),
            ("tag = 'blue'", Decision::None),
            ("tag = 'red' AND amount > 100", Decision::All),
            ("tag = 'red' AND amount > 200", Decision::Mixed),
            ("tag = 'red' AND amount > 1000", Decision::None),
            ("tag = 'blue' AND amount > 100", Decision::None),
            ("tag <> 'red'", Decision::None),
            ("tag IN ('red', 'green')", Decision::All),
            ("tag NOT IN ('red', 'green')", Decision::None),
            ("tag IS NOT NULL", Decision::All),
            ("color = 'red'", Decision::None),
            ("color IS NULL", Decision::All),
            ("NOT color = 'red'", Decision::None),
            ("amount BETWEEN 100 AND 500", Decision::All),
            ("amount BETWEEN 1000 AND 2000", Decision::None),
            ("amount NOT BETWEEN 1000 AND 2000", Decision::All),
            ("amount >= 101 AND amount <= 444", Decision::All),
            ("amount < 101", Decision::None),
            ("amount = 50", Decision::None),
            ("amount = 'abc'", Decision::None),
            ("amount > 'abc'", Decision::None),
            ("__key > 'order'", Decision::All),
            ("__key < 'order'", Decision::None),
            ("__key IS NULL", Decision::None),
            ("region = 'eu' OR tag = 'blue'", Decision::All),
            (
                "(tag = 'red' OR tag = 'blue') AND region <> 'us'",
                Decision::All,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(filter(text).decide(&red), expected, "{text}");
        }
        assert_eq!(
            filter("tag = 'red'").decide(&BatchSummary::of_records(&[])),
            Decision::None
        );

        // A few distinct tags: exact, so IN is exact too.
        let mixed: Vec<Record> = ["red", "blue", "red", "green"]
            .iter()
            .map(|t| record(None, &[("tag", Some(t))]))
            .collect();
        let s = BatchSummary::of_records(&mixed);
        assert_eq!(filter("tag = 'red'").decide(&s), Decision::Mixed);
        assert_eq!(
            filter("tag IN ('red','blue','green')").decide(&s),
            Decision::All
        );
        assert_eq!(filter("tag = 'yellow'").decide(&s), Decision::None);

        // Many distinct values: the bloom filter still rules out an absent one (most of the
        // time: one false positive in 20 at this size is fine, this one is checked).
        let many: Vec<Record> = (0..12)
            .map(|i| record(None, &[("id", Some(&format!("id-{i}")))]))
            .collect();
        let s = BatchSummary::of_records(&many);
        assert_eq!(filter("id = 'id-3'").decide(&s), Decision::Mixed);
        assert_eq!(filter("id = 'id-99'").decide(&s), Decision::None);
        assert_eq!(filter("id IN ('x', 'id-99')").decide(&s), Decision::None);
        assert_eq!(filter("id > 'id-'").decide(&s), Decision::All);

        // A header missing from some records: never All.
        let partial = vec![
            record(None, &[("tag", Some("red"))]),
            record(None, &[("tag", None)]),
            record(None, &[]),
        ];
        let s = BatchSummary::of_records(&partial);
        assert_eq!(filter("tag = 'red'").decide(&s), Decision::Mixed);
        assert_eq!(filter("tag <> 'red'").decide(&s), Decision::None);
        assert_eq!(filter("NOT tag <> 'red'").decide(&s), Decision::Mixed);
        assert_eq!(filter("tag IS NULL").decide(&s), Decision::Mixed);
    }

    #[test]
    fn undescribed_names_decide_mixed() {
        // More header names than a summary describes: the others could be anything.
        let names: Vec<String> = (0..20).map(|i| format!("h{i}")).collect();
        let headers: Vec<(&str, Option<&str>)> =
            names.iter().map(|n| (n.as_str(), Some("v"))).collect();
        let s = BatchSummary::of_records(&[record(None, &headers)]);
        assert!(!s.names_complete());
        assert_eq!(filter("h0 = 'v'").decide(&s), Decision::All);
        assert_eq!(filter("h19 = 'v'").decide(&s), Decision::Mixed);
        assert_eq!(filter("h19 = 'v' AND h0 = 'w'").decide(&s), Decision::None);
        assert_eq!(filter("nothing IS NULL").decide(&s), Decision::Mixed);
    }
}
