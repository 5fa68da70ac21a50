use std::collections::HashMap;

/// `--key value` pairs.
pub struct Args(HashMap<String, String>);

impl Args {
    pub fn parse(v: &[String]) -> Result<Args, String> {
        let mut m = HashMap::new();
        let mut it = v.iter();
        while let Some(k) = it.next() {
            let Some(k) = k.strip_prefix("--") else {
                return Err(format!("unexpected argument {k:?}"));
            };
            let val = it.next().ok_or_else(|| format!("--{k} needs a value"))?;
            m.insert(k.to_owned(), val.clone());
        }
        Ok(Args(m))
    }
    pub fn str(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(|s| s.as_str())
    }
    pub fn num<T: std::str::FromStr>(&self, k: &str, default: T) -> Result<T, String> {
        match self.0.get(k) {
            None => Ok(default),
            Some(s) => s.parse().map_err(|_| format!("--{k}: not a number: {s:?}")),
        }
    }
}
