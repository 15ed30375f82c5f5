//! Lenient YAML scalars: operators write `5` or `'5'`, `true` or `'true'`, one item or a list,
//! and Salt writes some lists as comma-separated strings. Each type here accepts every form
//! one field takes and keeps one canonical value, so diffs compare like with like.

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A value AWS takes as text: a string, number or boolean in YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar(pub String);

impl Serialize for Scalar {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A whole number written as a number or as a string (`5` or `'5'`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Num(pub i64);

impl Num {
    /// As the `i32` AWS takes (validation keeps values in range; out of range saturates).
    pub fn int(self) -> i32 {
        i32::try_from(self.0).unwrap_or(if self.0 < 0 { i32::MIN } else { i32::MAX })
    }
}

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0)
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number (or a string holding one)")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                Ok(Num(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                i64::try_from(v)
                    .map(Num)
                    .map_err(|_| E::custom(format!("{v} is too large")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
                if v.fract() == 0.0 && v.abs() < 9.0e15 {
                    Ok(Num(v as i64))
                } else {
                    Err(E::custom(format!("{v} is not a whole number")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Num, E> {
                v.trim()
                    .parse::<i64>()
                    .map(Num)
                    .map_err(|_| E::custom(format!("`{v}` is not a whole number")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A boolean written as `true`/`false` or as the strings `'true'`/`'false'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl Serialize for Flag {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(self.0)
    }
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true or false")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Flag, E> {
                match v.trim().to_ascii_lowercase().as_str() {
                    "true" => Ok(Flag(true)),
                    "false" => Ok(Flag(false)),
                    _ => Err(E::custom(format!("`{v}` is not true or false"))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// Names as a list, or as one comma-separated string (as Salt accepts security groups and
/// subnets); blanks around names and empty entries are dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommaList(pub Vec<String>);

impl Serialize for CommaList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for CommaList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(CommaList(
                s.split(',')
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(String::from)
                    .collect(),
            )),
            v @ Value::Array(_) => serde_json::from_value(v)
                .map(CommaList)
                .map_err(de::Error::custom),
            other => Err(de::Error::custom(format!(
                "expected a list of names or a comma-separated string, found {other}"
            ))),
        }
    }
}

/// For `deserialize_with`: a YAML string or whole number, as a string (`-1`, `tcp`).
pub fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or a number")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_any(V)
}

/// For `deserialize_with` on an `Option`: [`string_or_number`].
pub fn opt_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    string_or_number(d).map(Some)
}

/// For `deserialize_with`: one string or a list of strings (`cidr_ip: 10.0.0.0/8` or
/// `cidr_ip: [a, b]`).
pub fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or a list of strings")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element::<String>()? {
                out.push(s);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct T {
        s: Scalar,
        n: Num,
        f: Flag,
        c: CommaList,
        #[serde(deserialize_with = "one_or_many")]
        o: Vec<String>,
        #[serde(deserialize_with = "string_or_number")]
        p: String,
    }

    fn t(yaml: &str) -> Result<T, String> {
        serde_saphyr::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn every_form_reads_as_one_value() {
        let a = t("s: 5\nn: '5'\nf: 'true'\nc: 'a, b,,c'\no: x\np: -1\n").unwrap();
        let b = t("s: '5'\nn: 5\nf: true\nc: [a, b, c]\no: [x]\np: '-1'\n").unwrap();
        for v in [&a, &b] {
            assert_eq!(v.s, Scalar("5".into()));
            assert_eq!(v.n, Num(5));
            assert_eq!(v.f, Flag(true));
            assert_eq!(v.c.0, vec!["a", "b", "c"]);
            assert_eq!(v.o, vec!["x"]);
            assert_eq!(v.p, "-1");
        }
        assert_eq!(
            t("s: true\nn: 5.0\nf: false\nc: []\no: []\np: tcp\n")
                .unwrap()
                .s
                .0,
            "true"
        );
    }

    #[test]
    fn wrong_forms_are_errors_that_say_what_was_expected() {
        let base = "s: x\nn: 1\nf: true\nc: a\no: x\np: tcp\n";
        let with = |field: &str, v: &str| {
            base.lines()
                .map(|l| {
                    if l.starts_with(&format!("{field}:")) {
                        format!("{field}: {v}")
                    } else {
                        l.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert!(t(&with("n", "'five'"))
            .unwrap_err()
            .contains("is not a whole number"));
        assert!(t(&with("n", "1.5"))
            .unwrap_err()
            .contains("is not a whole number"));
        assert!(t(&with("f", "'yes'"))
            .unwrap_err()
            .contains("is not true or false"));
        assert!(t(&with("c", "{a: b}"))
            .unwrap_err()
            .contains("comma-separated string"));
        assert!(t(&with("s", "[1]")).is_err());
        assert!(t(&with("p", "true")).is_err());
        assert_eq!(Num(5_000_000_000).int(), i32::MAX);
    }
}
