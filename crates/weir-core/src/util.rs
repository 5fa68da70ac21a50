//! Small helpers shared by adapters.

use rand::distr::{Alphanumeric, SampleString};

/// Random alphanumeric string (ZLMediaKit's `makeRandStr`): ids, tokens, ICE credentials.
pub fn random_alnum(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), len)
}
