//! variantd-results: which variant wins, by how much, with what confidence,
//! and whether the split is healthy, from the exposure and event JSONL
//! files variantd (statsig-rust's event logger) writes. Knows nothing of
//! HTTP or of statsig-rust itself.
//!
//! ```no_run
//! # fn main() -> Result<(), variantd_results::Error> {
//! let specs = std::fs::read_to_string("config/statsig_specs.json").unwrap();
//! let report = variantd_results::Analysis::builder()
//!     .specs_json(&specs)?
//!     .control("variant_experiment", "A")
//!     .variants("variant_b", "pass", ["app_b"])
//!     .add_paths(["var/exposures.jsonl*"])?
//!     .compute()?;
//! print!("{}", variantd_results::render_table(&report.decisions));
//! # Ok(()) }
//! ```
//!
//! Modules, one responsibility each:
//! - `input`: paths and globs, lines, decoding a line;
//! - `accumulate`: per-unit state (first exposures, conversions);
//! - `designs`: decisions' kinds, groups and splits from the specs;
//! - [`stats`]: the statistics (public: pure functions, tested one by one);
//! - `report`: the result structs and their computation;
//! - `table`: the terminal table.

mod accumulate;
mod designs;
mod input;
mod report;
pub mod stats;
mod table;

use std::io::BufRead;
use std::path::{Path, PathBuf};

pub use accumulate::InputCounts;
pub use designs::{DecisionKind, Design, Designs, RuleDesign};
pub use report::{
    DecisionResult, GroupResult, InputSummary, MetricRow, Report, Srm, SrmTest, SRM_THRESHOLD,
};
pub use table::render_table;

use accumulate::{Accumulator, Pass};
use report::Options;

/// What can go wrong. Bad lines are not errors: they are counted in
/// [`InputCounts::malformed_lines`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("specs file is not JSON: {0}")]
    Specs(#[source] serde_json::Error),
    #[error("specs file is not a dcs-v2 document: {0}")]
    SpecsShape(&'static str),
    #[error("invalid glob pattern {pattern:?}: {source}")]
    Pattern {
        pattern: String,
        #[source]
        source: glob::PatternError,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Entry point: configure with [`Analysis::builder`], then compute.
pub struct Analysis;

impl Analysis {
    pub fn builder() -> AnalysisBuilder {
        AnalysisBuilder::default()
    }
}

/// Collects the designs, the caller's knowledge (controls, variants) and
/// the input files.
#[derive(Debug, Default)]
pub struct AnalysisBuilder {
    designs: Designs,
    options: Options,
    paths: Vec<PathBuf>,
}

impl AnalysisBuilder {
    /// Designs from a dcs-v2 specs document. Without specs, decisions are
    /// still reported, but without SRM tests and with groups named by rule.
    pub fn specs_json(self, json: &str) -> Result<Self, Error> {
        Ok(self.designs(Designs::from_specs_json(json)?))
    }

    pub fn designs(mut self, designs: Designs) -> Self {
        self.designs = designs;
        self
    }

    /// The group lifts are measured against. Default: `fail` for a gate,
    /// else the first group in specs order.
    pub fn control(mut self, decision: impl Into<String>, group: impl Into<String>) -> Self {
        self.options.controls.insert(decision.into(), group.into());
        self
    }

    /// The variants a group routes to (the daemon's routes know this; the
    /// files do not).
    pub fn variants<I, S>(mut self, decision: &str, group: &str, variants: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.options.variants.insert(
            (decision.to_owned(), group.to_owned()),
            variants.into_iter().map(Into::into).collect(),
        );
        self
    }

    /// Paths or globs (`var/exposures.jsonl*` takes the rotated files too).
    /// Exposures and events may be in the same files or in separate ones; a
    /// file named twice is read once. A glob matching nothing adds nothing.
    pub fn add_paths<I, S>(mut self, patterns: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        input::expand_patterns(patterns, &mut self.paths)?;
        Ok(self)
    }

    /// The files [`AnalysisBuilder::compute`] will read.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Reads the files twice, exposures then events, in memory bounded by
    /// distinct units, and computes the report.
    pub fn compute(self) -> Result<Report, Error> {
        let mut accumulator = Accumulator::new(self.designs);
        for pass in [Pass::Exposures, Pass::Events] {
            for path in &self.paths {
                read_file(&mut accumulator, path, pass)?;
            }
        }
        let files = self.paths.iter().map(|p| p.display().to_string()).collect();
        Ok(report::build(&accumulator, &self.options, files))
    }

    /// Computes the report from a stream read once (the builder's paths are
    /// not read). Events are kept as small records until the end, since a
    /// later line may hold an earlier exposure.
    pub fn compute_from_reader(self, reader: impl BufRead) -> Result<Report, Error> {
        let mut accumulator = Accumulator::new(self.designs);
        input::for_each_line(reader, Path::new("<reader>"), |line| {
            accumulator.ingest_line(line, Pass::Both)
        })?;
        accumulator.settle();
        Ok(report::build(&accumulator, &self.options, Vec::new()))
    }

    /// As [`AnalysisBuilder::compute_from_reader`], from lines in memory.
    pub fn compute_from_lines<'a>(self, lines: impl IntoIterator<Item = &'a str>) -> Report {
        let mut accumulator = Accumulator::new(self.designs);
        for line in lines {
            let line = line.trim_end_matches(['\n', '\r']);
            if !line.is_empty() {
                accumulator.ingest_line(line.as_bytes(), Pass::Both);
            }
        }
        accumulator.settle();
        report::build(&accumulator, &self.options, Vec::new())
    }
}

fn read_file(accumulator: &mut Accumulator, path: &Path, pass: Pass) -> Result<(), Error> {
    let reader = input::open(path)?;
    input::for_each_line(reader, path, |line| accumulator.ingest_line(line, pass))
}
