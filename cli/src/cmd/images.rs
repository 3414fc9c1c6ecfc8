//! images, rmi, tag, history, image prune, import.

use super::confirm;
use crate::client::{image_seg, query, reader_body, Client};
use crate::units::{ago, human_size, short_id};
use crate::Failure;
use berth_docker_api::image;
use hyper::Method;

#[derive(Debug, clap::Args)]
pub struct ImagesArgs {
    /// Show all images (berth has no intermediate images to hide).
    #[arg(short, long)]
    all: bool,
    /// Only show image ids.
    #[arg(short, long)]
    quiet: bool,
    /// Show full ids.
    #[arg(long)]
    no_trunc: bool,
    /// Show digests.
    #[arg(long)]
    digests: bool,
    /// Filter output (reference=, dangling=, label=).
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format with a Go template: table, json, or {{.Repository}}, {{.Tag}}, {{.ID}}…
    #[arg(long)]
    format: Option<String>,
    /// Only images of this repository (and tag).
    repository: Option<String>,
}

/// `repo:tag` → (repo, tag); `repo@digest` → (repo, digest).
fn split_ref(t: &str, sep: char) -> (String, String) {
    match t.rfind(sep).filter(|&p| !t[p..].contains('/')) {
        Some(p) => (t[..p].to_owned(), t[p + 1..].to_owned()),
        None => (t.to_owned(), "<none>".into()),
    }
}

/// The rows `docker images` shows for an image: one per tag (with the
/// digest of its repository), one per digest of an untagged repository.
fn rows(tags: &[String], repo_digests: &[String]) -> Vec<(String, String, String)> {
    let digests: Vec<(String, String)> = repo_digests.iter().map(|d| split_ref(d, '@')).collect();
    let digest_of = |repo: &str| {
        digests.iter().find(|(r, _)| r == repo).map_or("<none>".to_owned(), |(_, d)| d.clone())
    };
    let mut out: Vec<(String, String, String)> = tags
        .iter()
        .map(|t| {
            let (repo, tag) = split_ref(t, ':');
            let d = digest_of(&repo);
            (repo, tag, d)
        })
        .collect();
    for (repo, d) in &digests {
        if !out.iter().any(|(r, _, _)| r == repo) {
            out.push((repo.clone(), "<none>".into(), d.clone()));
        }
    }
    if out.is_empty() {
        out.push(("<none>".into(), "<none>".into(), "<none>".into()));
    }
    out
}

fn header(field: &str) -> String {
    match field {
        "ID" => "IMAGE ID".into(),
        f => crate::table::docker_header(f),
    }
}

/// One row of `images`, as its `--format` templates see it.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct ImageRow {
    repository: String,
    tag: String,
    digest: String,
    #[serde(rename = "ID")]
    id: String,
    created_since: String,
    created_at: String,
    size: String,
    /// For `{{.Label "k"}}`.
    #[serde(rename = "_labels")]
    labels: Option<std::collections::BTreeMap<String, String>>,
}

/// One row of `history`.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct HistoryRow {
    #[serde(rename = "ID")]
    id: String,
    created_since: String,
    created_by: String,
    size: String,
    comment: String,
}

pub async fn list(c: &Client, a: ImagesArgs) -> Result<i32, Failure> {
    let mut filters = a.filter.clone();
    if let Some(r) = &a.repository {
        filters.push(format!("reference={r}"));
    }
    let images: Vec<image::Summary> = c
        .get(&format!("/images/json?{}", query([("filters", super::filters_json(&filters)?)])))
        .await?;
    let id = |i: &image::Summary| {
        let id = i.id.as_str();
        if a.no_trunc {
            id.to_owned()
        } else {
            short_id(id).to_owned()
        }
    };
    if a.quiet {
        let mut seen = Vec::new();
        for i in &images {
            let id = id(i);
            if !seen.contains(&id) {
                println!("{id}");
                seen.push(id);
            }
        }
        return Ok(0);
    }
    let mut table = Vec::new();
    for i in &images {
        let tags = &i.repo_tags;
        for (repository, tag, digest) in rows(tags, &i.repo_digests) {
            if !a.digests && tag == "<none>" && repository != "<none>" && !tags.is_empty() {
                continue;
            }
            table.push(ImageRow {
                repository,
                tag,
                digest,
                id: id(i),
                created_since: ago(i.created),
                created_at: crate::units::local_time(i.created),
                size: human_size(i.size.max(0) as u64),
                labels: i.labels.clone(),
            });
        }
    }
    let default = if a.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    crate::table::print(&table, a.format.as_deref(), default, header)
        .map_err(|e| Failure::new(format!("Error: {e}")))?;
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct RmiArgs {
    /// Remove even if tagged several times or used by containers (untags only).
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    images: Vec<String>,
}

pub async fn remove(c: &Client, a: RmiArgs) -> Result<i32, Failure> {
    let mut code = 0;
    for name in &a.images {
        match c
            .json(
                Method::DELETE,
                &format!("/images/{}?force={}", image_seg(name), u8::from(a.force)),
                None,
            )
            .await
        {
            Ok(items) => {
                let items: Vec<image::DeleteItem> = items;
                for it in items {
                    if let Some(t) = it.untagged {
                        println!("Untagged: {t}");
                    }
                    if let Some(d) = it.deleted {
                        println!("Deleted: {d}");
                    }
                }
            }
            Err(e) => {
                eprintln!("{}", Failure::from(e).message);
                code = 1;
            }
        }
    }
    Ok(code)
}

#[derive(Debug, clap::Args)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    source: String,
    /// TARGET_IMAGE[:TAG]
    target: String,
}

pub async fn tag(c: &Client, a: TagArgs) -> Result<i32, Failure> {
    let (repo, tag) = match a.target.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
        Some((r, t)) => (r.to_owned(), t.to_owned()),
        None => (a.target.clone(), String::new()),
    };
    c.post(&format!(
        "/images/{}/tag?{}",
        image_seg(&a.source),
        query([("repo", repo), ("tag", tag)])
    ))
    .await?;
    Ok(0)
}

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
    /// Format with a Go template: table, json, or {{.ID}}, {{.CreatedBy}}…
    #[arg(long)]
    format: Option<String>,
    image: String,
}

pub async fn history(c: &Client, a: HistoryArgs) -> Result<i32, Failure> {
    let entries: Vec<image::HistoryItem> =
        c.get(&format!("/images/{}/history", image_seg(&a.image))).await?;
    let id = |e: &image::HistoryItem| match e.id.as_str() {
        "" | "<missing>" => "<missing>".to_owned(),
        id if a.no_trunc => id.to_owned(),
        id => short_id(id).to_owned(),
    };
    if a.quiet {
        entries.iter().for_each(|e| println!("{}", id(e)));
        return Ok(0);
    }
    let rows: Vec<HistoryRow> = entries
        .iter()
        .map(|e| {
            let by = e.created_by.replace('\t', " ");
            let by = if a.no_trunc || by.chars().count() <= 45 {
                by
            } else {
                by.chars().take(44).collect::<String>() + "…"
            };
            let (created, size) = (e.created, e.size.max(0) as u64);
            let (created, size) = if a.human {
                (if created > 0 { ago(created) } else { "N/A".into() }, human_size(size))
            } else {
                (created.to_string(), size.to_string())
            };
            HistoryRow {
                id: id(e),
                created_since: created,
                created_by: by,
                size,
                comment: e.comment.clone(),
            }
        })
        .collect();
    let default = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
    let header =
        |f: &str| if f == "ID" { "IMAGE".to_owned() } else { crate::table::docker_header(f) };
    crate::table::print(&rows, a.format.as_deref(), default, header)
        .map_err(|e| Failure::new(format!("Error: {e}")))?;
    Ok(0)
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

pub async fn prune(c: &Client, a: PruneArgs) -> Result<i32, Failure> {
    let what = if a.all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    };
    if !a.force && !confirm(&format!("WARNING! This will remove {what}."))? {
        return Ok(0);
    }
    let dangling = ["dangling=false".to_owned()];
    let filters = super::filters_json(if a.all { &dangling[..] } else { &[] })?;
    let r: image::PruneResponse = c
        .json(
            Method::POST,
            &format!("/images/prune?{}", query([("filters", filters.to_owned())])),
            None,
        )
        .await?;
    let items = r.images_deleted.unwrap_or_default();
    if !items.is_empty() {
        println!("Deleted Images:");
        for it in items {
            if let Some(t) = it.untagged {
                println!("untagged: {t}");
            }
            if let Some(d) = it.deleted {
                println!("deleted: {d}");
            }
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(r.space_reclaimed));
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, WORKDIR, USER, STOPSIGNAL, LABEL, EXPOSE).
    #[arg(short = 'c', long = "change")]
    changes: Vec<String>,
    /// Commit message.
    #[arg(short, long, default_value = "")]
    message: String,
    /// Tarball, or - for stdin.
    file: String,
    /// NAME[:TAG]
    reference: Option<String>,
}

pub async fn import(c: &Client, a: ImportArgs) -> Result<i32, Failure> {
    let body = if a.file == "-" {
        reader_body(tokio::io::stdin())
    } else {
        reader_body(
            tokio::fs::File::open(&a.file)
                .await
                .map_err(|e| Failure::new(format!("Error: open {}: {e}", a.file)))?,
        )
    };
    let mut q = vec![
        ("fromSrc", "-".to_owned()),
        ("repo", a.reference.clone().unwrap_or_default()),
        ("message", a.message.clone()),
    ];
    q.extend(a.changes.iter().map(|ch| ("changes", ch.clone())));
    let resp = c.checked(Method::POST, &format!("/images/create?{}", query(q)), &[], body).await?;
    super::transfer::show_progress(resp.into_body(), false).await?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_pair_tags_with_their_repository_digest() {
        let d = format!("sha256:{}", "a".repeat(64));
        let tags = vec!["busybox:latest".to_owned(), "127.0.0.1:5000/bb:1".to_owned()];
        let digests = vec![format!("busybox@{d}"), format!("other@{d}")];
        assert_eq!(
            rows(&tags, &digests),
            vec![
                ("busybox".into(), "latest".into(), d.clone()),
                ("127.0.0.1:5000/bb".into(), "1".into(), "<none>".into()),
                ("other".into(), "<none>".into(), d.clone()),
            ]
        );
        assert_eq!(rows(&[], &[]), vec![("<none>".into(), "<none>".into(), "<none>".into())]);
    }
}
