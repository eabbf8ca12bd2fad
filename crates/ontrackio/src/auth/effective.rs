//! A setting's value in effect and where it comes from: the settings card, the
//! environment, or the default (DESIGN §5.3). Every provider's card shows the source next
//! to each field.

/// Where an effective value comes from; the card shows it next to each field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Card,
    Environment,
    Default,
}

#[derive(Clone, Debug)]
pub struct Effective<T> {
    pub value: T,
    pub source: Source,
}

impl<T> Effective<T> {
    pub fn new(value: T, source: Source) -> Self {
        Self { value, source }
    }
}

/// Card value, else variable, else default.
pub fn pick<T>(card: Option<T>, env: Option<T>, default: T) -> Effective<T> {
    match (card, env) {
        (Some(v), _) => Effective::new(v, Source::Card),
        (None, Some(v)) => Effective::new(v, Source::Environment),
        (None, None) => Effective::new(default, Source::Default),
    }
}
