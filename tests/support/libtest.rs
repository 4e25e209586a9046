//! What `cargo test` may hand every test binary (`cargo test NAME`, `cargo test -q`, `cargo
//! test -- --nocapture`), for the programs that are test targets without libtest's harness
//! (the chaos suite, the benchmark), so that those commands keep working for the whole
//! crate; and the one rule by which a filter selects what such a program runs.

/// libtest's own flags, taken and mostly ignored (progress is always printed); the filter,
/// `--exact` and `--ignored` select as libtest's do.
#[derive(clap::Args, Debug)]
pub struct Libtest {
    /// Only what is named by a name containing FILTER, as libtest filters tests by name; a
    /// filter that names nothing runs nothing
    #[arg(value_name = "FILTER")]
    pub filter: Option<String>,
    /// FILTER must be a whole name
    #[arg(long, hide = true)]
    pub exact: bool,
    /// Only the ignored tests: these programs have none, so nothing runs
    #[arg(long, hide = true)]
    pub ignored: bool,
    #[arg(long, hide = true)]
    pub include_ignored: bool,
    #[arg(long, hide = true)]
    pub nocapture: bool,
    #[arg(long, short, hide = true)]
    pub quiet: bool,
    #[arg(long, hide = true, value_name = "N")]
    pub test_threads: Option<String>,
}

impl Libtest {
    /// Whether what is called `name` runs, as libtest decides for a test of that name.
    pub fn selects(&self, name: &str) -> bool {
        if self.ignored {
            return false;
        }
        match &self.filter {
            None => true,
            Some(filter) if self.exact => name == filter,
            Some(filter) => name.contains(filter.as_str()),
        }
    }
}
