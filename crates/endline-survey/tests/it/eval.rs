//! The evaluator on a validated survey, with XLSForm's empty-value semantics.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, NaiveDate};
use endline_survey::expr::{Context, Value, eval, parse};

struct Answers {
    values: HashMap<&'static str, Value>,
    repeat: HashMap<&'static str, Vec<Value>>,
    me: Value,
}

impl Context for Answers {
    fn value(&self, name: &str) -> Value {
        self.values.get(name).cloned().unwrap_or(Value::Null)
    }
    fn self_value(&self) -> Value {
        self.me.clone()
    }
    fn repeat_values(&self, name: &str) -> Vec<Value> {
        self.repeat.get(name).cloned().unwrap_or_default()
    }
    fn today(&self) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(2025, 6, 30)
    }
    fn now(&self) -> Option<DateTime<FixedOffset>> {
        None
    }
}

fn answers() -> Answers {
    let mut values = HashMap::new();
    values.insert("age", Value::Int(34));
    values.insert("income", Value::Dec(1250.5));
    values.insert("empty", Value::Null);
    values.insert("name", Value::Text("Dolma".into()));
    values.insert("crops", Value::Multi(vec!["barley".into(), "yak_dairy".into()]));
    values.insert("visit", Value::Date(NaiveDate::from_ymd_opt(2025, 6, 1).unwrap_or_default()));
    let mut repeat = HashMap::new();
    repeat.insert("member_age", vec![Value::Int(40), Value::Int(12), Value::Null, Value::Int(70)]);
    repeat.insert("members", vec![Value::Null; 4]);
    Answers { values, repeat, me: Value::Int(150) }
}

fn run(src: &str) -> Value {
    let e = parse(src).unwrap_or_else(|err| panic!("{src}: {err:?}"));
    eval(&e, &answers())
}

#[test]
fn arithmetic_and_comparison() {
    assert_eq!(run("${age} + 1"), Value::Int(35));
    assert_eq!(run("${age} div 4"), Value::Dec(8.5));
    assert_eq!(run("${age} mod 5"), Value::Int(4));
    assert_eq!(run("${income} * 2"), Value::Dec(2501.0));
    assert_eq!(run("-${age}"), Value::Int(-34));
    assert_eq!(run("${age} >= 18 and ${age} < 65"), Value::Bool(true));
    assert_eq!(run(". <= 120"), Value::Bool(false));
    assert_eq!(run("1 div 0"), Value::Null);
}

#[test]
fn empty_values_follow_xlsform() {
    // Arithmetic on empty is empty; ordering with empty is false; empty equals ''.
    assert_eq!(run("${empty} + 1"), Value::Null);
    assert_eq!(run("${empty} > 3"), Value::Bool(false));
    assert_eq!(run("${empty} < 3"), Value::Bool(false));
    assert_eq!(run("${empty} = ''"), Value::Bool(true));
    assert_eq!(run("${empty} = 0"), Value::Bool(false));
    assert_eq!(run("coalesce(${empty}, 7)"), Value::Int(7));
    assert_eq!(run("string-length(${empty})"), Value::Int(0));
    assert_eq!(run("count-selected(${empty})"), Value::Int(0));
    assert_eq!(run("not(${empty})"), Value::Bool(true));
}

#[test]
fn functions() {
    assert_eq!(run("selected(${crops}, 'barley')"), Value::Bool(true));
    assert_eq!(run("selected(${crops}, 'fruit')"), Value::Bool(false));
    assert_eq!(run("count-selected(${crops})"), Value::Int(2));
    assert_eq!(run("selected-at(${crops}, 1)"), Value::Text("yak_dairy".into()));
    assert_eq!(run("regex(${name}, '[A-Z][a-z]+')"), Value::Bool(true));
    assert_eq!(run("regex(${name}, '[a-z]+')"), Value::Bool(false), "regex matches the whole value");
    assert_eq!(run("if(${age} > 60, 'old', 'young')"), Value::Text("young".into()));
    assert_eq!(run("round(${income} div 3, 2)"), Value::Dec(416.83));
    assert_eq!(run("int(-2.7)"), Value::Int(-2));
    assert_eq!(run("min(3, ${age}, 10)"), Value::Int(3));
    assert_eq!(run("concat(${name}, '-', ${age})"), Value::Text("Dolma-34".into()));
    assert_eq!(run("today() - ${visit}"), Value::Int(29));
    assert_eq!(run("${visit} + 30"), Value::Date(NaiveDate::from_ymd_opt(2025, 7, 1).unwrap_or_default()));
    assert_eq!(run("date('2025-06-02') > ${visit}"), Value::Bool(true));
    assert_eq!(run("string-length('边境县')"), Value::Int(3));
    assert_eq!(run("substr('abcdef', 1, 3)"), Value::Text("bc".into()));
}

#[test]
fn aggregates_over_a_repeat() {
    assert_eq!(run("count(${members})"), Value::Int(4));
    assert_eq!(run("sum(${member_age})"), Value::Int(122));
    assert_eq!(run("max(${member_age})"), Value::Int(70));
    assert_eq!(run("min(${member_age})"), Value::Int(12));
    assert_eq!(run("sum(${nothing})"), Value::Int(0));
}
