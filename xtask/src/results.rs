//! Reads one run's output: criterion's estimates and the benches' own figure files.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::run::OutputDirs;

/// Criterion's estimate of the time of one iteration, with its 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub typical_ns: f64,
    pub lower_ns: f64,
    pub upper_ns: f64,
}

impl Estimate {
    /// `self / baseline` with the widest range the two intervals allow.
    pub fn ratio_to(&self, baseline: &Estimate) -> Ratio {
        Ratio {
            value: self.typical_ns / baseline.typical_ns,
            low: self.lower_ns / baseline.upper_ns,
            high: self.upper_ns / baseline.lower_ns,
        }
    }
}

/// A ratio of two measurements and the range their confidence intervals allow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratio {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// One run's output.
pub struct Results {
    criterion: PathBuf,
    figures: PathBuf,
    callgrind: PathBuf,
}

impl Results {
    pub fn new(output: &OutputDirs) -> Self {
        Results {
            criterion: output.criterion.clone(),
            figures: output.figures.clone(),
            callgrind: output.callgrind.clone(),
        }
    }

    /// The estimate of bench `id` (`group/function[/parameter]`), if it ran.
    pub fn estimate(&self, id: &str) -> Option<Estimate> {
        let path = self.criterion.join(id).join("new").join("estimates.json");
        parse_estimate(&read_json(&path)?)
    }

    /// A figure file written by a bench (`<name>.json`), if it ran.
    pub fn figures(&self, name: &str) -> Option<Value> {
        read_json(&self.figures.join(format!("{name}.json")))
    }
}

impl Results {
    /// Instructions per hit from `hit-instructions`, if it was run.
    pub fn instructions(&self) -> Option<Value> {
        read_json(&self.callgrind.join("instructions.json"))
    }
}

fn read_json(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Criterion's `estimates.json`: the estimate criterion itself prints, the slope of time over
/// iterations (robust to a noisy sample), or the mean where it sampled without a slope; with its
/// confidence interval.
fn parse_estimate(estimates: &Value) -> Option<Estimate> {
    let estimate = estimates
        .get("slope")
        .filter(|slope| !slope.is_null())
        .or_else(|| estimates.get("mean"))?;
    let interval = estimate.get("confidence_interval")?;
    Some(Estimate {
        typical_ns: estimate.get("point_estimate")?.as_f64()?,
        lower_ns: interval.get("lower_bound")?.as_f64()?,
        upper_ns: interval.get("upper_bound")?.as_f64()?,
    })
}

/// A number at `pointer` (a JSON pointer, `/a/b`) of a figure file.
pub fn number(figures: &Value, pointer: &str) -> Option<f64> {
    figures.pointer(pointer)?.as_f64()
}

/// The numbers of an array at `pointer`.
pub fn numbers(figures: &Value, pointer: &str) -> Vec<f64> {
    figures
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(|values| values.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_criterions_mean_and_interval() {
        let estimates = serde_json::json!({
            "mean": {
                "confidence_interval": { "confidence_level": 0.95, "lower_bound": 9.0, "upper_bound": 11.5 },
                "point_estimate": 10.0,
                "standard_error": 0.5
            },
            "median": { "point_estimate": 9.5 }
        });
        assert_eq!(
            parse_estimate(&estimates),
            Some(Estimate {
                typical_ns: 10.0,
                lower_ns: 9.0,
                upper_ns: 11.5
            })
        );
        assert_eq!(parse_estimate(&serde_json::json!({ "median": {} })), None);
        let with_slope = serde_json::json!({
            "mean": estimates["mean"],
            "slope": {
                "confidence_interval": { "lower_bound": 7.0, "upper_bound": 8.0 },
                "point_estimate": 7.5
            }
        });
        assert_eq!(
            parse_estimate(&with_slope),
            Some(Estimate {
                typical_ns: 7.5,
                lower_ns: 7.0,
                upper_ns: 8.0
            })
        );
    }

    #[test]
    fn a_ratio_spans_both_intervals() {
        let ours = Estimate {
            typical_ns: 12.0,
            lower_ns: 11.0,
            upper_ns: 13.0,
        };
        let baseline = Estimate {
            typical_ns: 10.0,
            lower_ns: 9.0,
            upper_ns: 11.0,
        };
        let ratio = ours.ratio_to(&baseline);
        assert!((ratio.value - 1.2).abs() < 1e-12);
        assert!((ratio.low - 1.0).abs() < 1e-12);
        assert!((ratio.high - 13.0 / 9.0).abs() < 1e-12);
    }

    #[test]
    fn reads_numbers_by_pointer() {
        let figures = serde_json::json!({ "a": { "b": 3, "list": [1, 2.5, "x"] } });
        assert_eq!(number(&figures, "/a/b"), Some(3.0));
        assert_eq!(number(&figures, "/a/missing"), None);
        assert_eq!(numbers(&figures, "/a/list"), vec![1.0, 2.5]);
        assert!(numbers(&figures, "/nothing").is_empty());
    }
}
