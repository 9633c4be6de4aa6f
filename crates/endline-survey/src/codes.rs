//! Every diagnostic code the survey validator emits. Codes are a stable contract.

use endline_diag::Code;

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $text:literal;)*) => {
        $($(#[$doc])* pub const $name: Code = Code::new($text);)*
        /// Every code, in the order of this catalogue.
        pub const ALL: &[Code] = &[$($name),*];
    };
}

codes! {
    /// The file is not valid YAML.
    YAML_SYNTAX = "yaml-syntax";
    /// A YAML feature survey files do not use (anchors, aliases, tags).
    YAML_UNSUPPORTED = "yaml-unsupported";
    /// The same key twice in one mapping.
    DUPLICATE_KEY = "duplicate-key";
    /// A key the format does not define.
    UNKNOWN_KEY = "unknown-key";
    /// A key the format defines, but not for this kind of item.
    MISPLACED_KEY = "misplaced-key";
    /// A required key is absent.
    MISSING_KEY = "missing-key";
    /// A value of the wrong shape or kind (a list where a string belongs, a number for `version`).
    INVALID_VALUE = "invalid-value";
    /// A question type the format does not define.
    UNKNOWN_TYPE = "unknown-type";
    /// Two items with the same name.
    DUPLICATE_NAME = "duplicate-name";
    /// A name that is not an identifier.
    INVALID_IDENTIFIER = "invalid-identifier";
    /// The `key` names no question, or one that cannot identify a submission.
    KEY_NOT_FOUND = "key-not-found";
    /// The `key` question is inside a repeat, or of a type that cannot be a key.
    INVALID_KEY_QUESTION = "invalid-key-question";
    /// A select question names a choice list that does not exist.
    UNKNOWN_CHOICE_LIST = "unknown-choice-list";
    /// A choice list with no choices.
    EMPTY_CHOICE_LIST = "empty-choice-list";
    /// A select question has both `type: select_one LIST` and `choices:`.
    CONFLICTING_CHOICES = "conflicting-choices";
    /// The same value twice in one choice list.
    DUPLICATE_CHOICE_VALUE = "duplicate-choice-value";
    /// Integer and string values in one choice list.
    MIXED_CHOICE_TYPES = "mixed-choice-types";
    /// A choice value that is neither an integer nor a string without spaces.
    INVALID_CHOICE_VALUE = "invalid-choice-value";
    /// A label lacks a declared language.
    MISSING_TRANSLATION = "missing-translation";
    /// A label uses a language not declared in `languages`.
    UNKNOWN_LANGUAGE = "unknown-language";
    /// A language listed twice.
    DUPLICATE_LANGUAGE = "duplicate-language";
    /// An expression that does not parse.
    EXPRESSION_SYNTAX = "expression-syntax";
    /// A call to a function the language does not have.
    UNKNOWN_FUNCTION = "unknown-function";
    /// A function called with the wrong number of arguments.
    WRONG_ARITY = "wrong-arity";
    /// `${name}` names no question.
    UNKNOWN_REFERENCE = "unknown-reference";
    /// `${name}` names a group or note, which have no value.
    INVALID_REFERENCE = "invalid-reference";
    /// An operand or argument of the wrong type.
    TYPE_MISMATCH = "type-mismatch";
    /// A reference into a repeat from outside it without an aggregate.
    REPEAT_REFERENCE = "repeat-reference";
    /// `.` where the question's own value has no meaning.
    SELF_REFERENCE = "self-reference";
    /// Questions whose calculation, relevance, requirement or count depend on each other.
    DEPENDENCY_CYCLE = "dependency-cycle";
    /// `missing` names a code not declared in `missing_codes`.
    UNKNOWN_MISSING_CODE = "unknown-missing-code";
    /// Two missing codes with one value, or a missing code equal to one of the question's choices.
    MISSING_CODE_COLLISION = "missing-code-collision";
    /// A `regex()` pattern that does not compile.
    INVALID_REGEX = "invalid-regex";
    /// A `default` that the question's type or choices would reject.
    INVALID_DEFAULT = "invalid-default";
    /// (warning) A literal compared with a select question that is not one of its choices.
    UNKNOWN_CHOICE_VALUE = "unknown-choice-value";
    /// (warning) A named choice list no question uses.
    UNUSED_CHOICE_LIST = "unused-choice-list";
    /// (warning) A constraint no value can satisfy.
    UNSATISFIABLE_CONSTRAINT = "unsatisfiable-constraint";
    /// (warning) A relevance condition that can never be true: the item is never asked.
    NEVER_RELEVANT = "never-relevant";
    /// (warning) A question with no label, which enumerators would see blank.
    MISSING_LABEL = "missing-label";
}
