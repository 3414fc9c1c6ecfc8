//! history, image inspect, image prune.

use crate::client::Client;
use crate::units::{ago, human_size, short_id};
use crate::Failure;
use berth_proto::engine as pb;

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Don't truncate output.
    #[arg(long)]
    no_trunc: bool,
    /// Only show image ids.
    #[arg(short, long)]
    quiet: bool,
    /// Print sizes and dates in human-readable form (`-H` is the daemon's host here).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    human: bool,
    image: String,
}

pub async fn history(c: &mut Client, a: HistoryArgs) -> Result<i32, Failure> {
    let entries = c.image_history(pb::ImageRef { name: a.image }).await?.into_inner().entries;
    let id = |e: &pb::HistoryEntry| match (e.id.is_empty(), a.no_trunc) {
        (true, _) => "<missing>".to_owned(),
        (false, true) => e.id.clone(),
        (false, false) => short_id(&e.id).to_owned(),
    };
    if a.quiet {
        entries.iter().for_each(|e| println!("{}", id(e)));
        return Ok(0);
    }
    println!("{:<14} {:<20} {:<45} {:<10} COMMENT", "IMAGE", "CREATED", "CREATED BY", "SIZE");
    for e in &entries {
        let by = e.created_by.replace('\t', " ");
        let by = if a.no_trunc || by.chars().count() <= 45 { by } else { by.chars().take(44).collect::<String>() + "…" };
        let (created, size) =
            if a.human { (if e.created_unix > 0 { ago(e.created_unix) } else { "N/A".into() }, human_size(e.size)) } else { (e.created_unix.to_string(), e.size.to_string()) };
        println!("{:<14} {:<20} {:<45} {:<10} {}", id(e), created, by, size, e.comment);
    }
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Format the output with a template: {{.Field}}, {{json .Field}}.
    #[arg(short, long)]
    pub format: Option<String>,
    /// Names or ids.
    #[arg(required = true)]
    pub names: Vec<String>,
}

pub async fn inspect(c: &mut Client, a: InspectArgs) -> Result<i32, Failure> {
    let mut docs = Vec::new();
    let mut code = 0;
    for n in &a.names {
        match c.inspect_image(pb::ImageRef { name: n.clone() }).await {
            Ok(r) => docs.push(serde_json::from_str::<serde_json::Value>(&r.into_inner().json).unwrap_or_default()),
            Err(s) => {
                eprintln!("{}", Failure::from(s).message);
                code = 1;
            }
        }
    }
    print_docs(&docs, a.format.as_deref())?;
    Ok(code)
}

/// Inspect output: a JSON array, or the template once per document.
pub fn print_docs(docs: &[serde_json::Value], format: Option<&str>) -> Result<(), Failure> {
    match format {
        None => println!("{}", serde_json::to_string_pretty(docs).unwrap_or_default()),
        Some(f) => {
            for d in docs {
                println!("{}", crate::template::render(f, d).map_err(|e| Failure { message: format!("Error: {e}"), code: 1 })?);
            }
        }
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Remove every image no container uses, not just dangling ones.
    #[arg(short, long)]
    all: bool,
    /// Don't ask for confirmation.
    #[arg(short, long)]
    force: bool,
}

pub async fn prune(c: &mut Client, a: PruneArgs) -> Result<i32, Failure> {
    if !a.force {
        use std::io::{BufRead, IsTerminal, Write};
        if !std::io::stdin().is_terminal() {
            return Err(Failure { message: "Error: refusing to prune without confirmation: use --force".into(), code: 1 });
        }
        let what = if a.all { "all images without at least one container associated to them" } else { "all dangling images" };
        print!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    let r = c.prune_images(pb::PruneImagesRequest { all: a.all }).await?.into_inner();
    if !r.untagged.is_empty() || !r.deleted.is_empty() {
        println!("Deleted Images:");
        r.untagged.iter().for_each(|t| println!("untagged: {t}"));
        r.deleted.iter().for_each(|d| println!("deleted: {d}"));
        println!();
    }
    println!("Total reclaimed space: {}", human_size(r.reclaimed));
    Ok(0)
}
