//! inspect, container inspect, image inspect: Docker's documents as a JSON
//! array, or `-f` once per document.

use super::containers::path;
use crate::client::{image_seg, Client};
use crate::Failure;
use serde_json::Value;

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Format the output with a template: {{.Field}}, {{json .Field}}.
    #[arg(short, long)]
    pub format: Option<String>,
    /// Only this type of object: container or image.
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Names or ids.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// What an inspect looks among.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Any,
    Container,
    Image,
}

async fn one(c: &Client, name: &str, kind: Kind) -> Result<Value, Failure> {
    if kind != Kind::Image {
        match c.get(&path(name, "/json")?).await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_not_found() && kind == Kind::Any => {}
            Err(e) if e.is_not_found() => {
                return Err(Failure::new(format!("Error: No such container: {name}")))
            }
            Err(e) => return Err(e.into()),
        }
    }
    match c.get(&format!("/images/{}/json", image_seg(name))).await {
        Ok(v) => Ok(v),
        Err(e) if e.is_not_found() && kind == Kind::Any => {
            Err(Failure::new(format!("Error: No such object: {name}")))
        }
        Err(e) if e.is_not_found() => Err(Failure::new(format!("Error: No such image: {name}"))),
        Err(e) => Err(e.into()),
    }
}

pub async fn inspect(c: &Client, a: InspectArgs, kind: Kind) -> Result<i32, Failure> {
    let kind = match (kind, a.kind.as_deref()) {
        (k, None) => k,
        (_, Some("container")) => Kind::Container,
        (_, Some("image")) => Kind::Image,
        (_, Some(t)) => {
            return Err(Failure::new(format!("Error: {t:?} is not a valid value for --type")))
        }
    };
    let mut docs = Vec::new();
    let mut code = 0;
    for n in &a.names {
        match one(c, n, kind).await {
            Ok(d) => docs.push(d),
            Err(f) => {
                eprintln!("{}", f.message);
                code = 1;
            }
        }
    }
    print(&docs, a.format.as_deref())?;
    Ok(code)
}

/// Documents as a JSON array, or `format` once per document.
pub fn print(docs: &[Value], format: Option<&str>) -> Result<(), Failure> {
    match format {
        None => println!("{}", serde_json::to_string_pretty(docs).unwrap_or_default()),
        Some(f) => {
            for d in docs {
                println!(
                    "{}",
                    crate::template::render(f, d)
                        .map_err(|e| Failure::new(format!("Error: {e}")))?
                );
            }
        }
    }
    Ok(())
}
