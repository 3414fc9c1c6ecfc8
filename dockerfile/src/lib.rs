//! berth's Dockerfile frontend: text in, typed instructions out, and the
//! word expansion the builder applies as it walks them. Pure: no I/O, no
//! engine (BuildKit's `frontend/dockerfile/parser` and `instructions`).
//!
//! - [`lines`]: parser directives (`escape`, `syntax`), comments, line
//!   continuations and heredocs → one logical line per instruction;
//! - [`instruction`]: each line as a typed [`Instruction`] with its flags,
//!   its words still unexpanded (what they expand to depends on the ENV and
//!   ARG steps before it);
//! - [`shell`]: `$VAR`, `${VAR:-default}`, quotes and escapes, as the
//!   builder expands an instruction's words;
//! - [`stages`]: the global ARGs and the stages (`FROM … AS name`);
//! - [`ignore`]: `.dockerignore` patterns, as the CLI applies them before
//!   sending a context and berthd again after receiving one.

pub mod ignore;
pub mod instruction;
pub mod lines;
pub mod shell;
pub mod stages;

pub use instruction::{Instruction, Run, Transfer};
pub use stages::{Dockerfile, Stage};

/// What is wrong with a Dockerfile, with the line it is on (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dockerfile parse error on line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl ParseError {
    pub(crate) fn at(line: usize, message: impl Into<String>) -> Self {
        Self { line, message: message.into() }
    }
}

/// Parses a whole Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let parsed = lines::split(text)?;
    let instructions = parsed
        .lines
        .iter()
        .map(|l| instruction::parse(l, parsed.escape))
        .collect::<Result<Vec<_>, _>>()?;
    stages::group(instructions, parsed.escape)
}
