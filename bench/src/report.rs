//! The report: a Markdown table (medians, p90, min/max and the ratio
//! berth/peer per figure, the peer being containerd or dockerd) and an SVG chart of every sample, written
//! to `docs/benchmarks/`, with the machine and the exact command.

use crate::stats::{median, summarize, Summary};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// One measured figure: samples for berth and for the peer (containerd
/// or dockerd), same run.
pub struct Series<T> {
    pub name: String,
    pub berth: Vec<T>,
    pub peer: Vec<T>,
}

/// Latencies.
pub type Figure = Series<Duration>;
/// Memory, in MiB.
pub type MemRow = Series<f64>;

impl<T> Series<T> {
    pub fn new(name: impl Into<String>) -> Self {
        Series { name: name.into(), berth: Vec::new(), peer: Vec::new() }
    }

    fn of(&mut self, runtime: &str) -> &mut Vec<T> {
        if runtime == "berth" {
            &mut self.berth
        } else {
            &mut self.peer
        }
    }

    pub fn push(&mut self, runtime: &str, v: T) {
        self.of(runtime).push(v)
    }

    pub fn extend(&mut self, runtime: &str, v: Vec<T>) {
        self.of(runtime).extend(v)
    }
}

/// A figure measured once for both (a shared floor, for reference).
pub struct Floor {
    pub name: String,
    pub samples: Vec<Duration>,
}

fn row(s: &Summary) -> String {
    format!("{:.1} | {:.1} | {:.1}–{:.1}", s.median, s.p90, s.min, s.max)
}

fn sh(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// The machine, as far as it matters here.
pub fn machine(peer: &str) -> String {
    let mem = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let total = mem
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .nth(1)
        .and_then(|k| k.parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
        / 1024;
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        .unwrap_or_default();
    let peer = match peer {
        "dockerd" => format!(
            "{}, docker CLI {}",
            sh("dockerd", &["--version"]),
            sh("/usr/bin/docker", &["--version"]).trim_start_matches("Docker version ")
        ),
        _ => sh("containerd", &["--version"])
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    };
    format!(
        "{} CPUs ({cpu}), {total} GiB RAM, kernel {}, {peer}, runc {}",
        sh("nproc", &[]),
        sh("uname", &["-r"]),
        sh("runc", &["--version"]).lines().next().unwrap_or("").trim_start_matches("runc version ")
    )
}

/// One report: latency figures, shared floors, memory rows.
pub struct Report<'a> {
    pub name: &'a str,
    /// What berth is compared with: "containerd" or "dockerd".
    pub peer: &'a str,
    pub title: &'a str,
    pub notes: &'a str,
    pub command: &'a str,
    pub figures: &'a [Figure],
    pub floors: &'a [Floor],
    pub memory: &'a [MemRow],
}

/// Prints and writes `<out>/<name>.md` and `<out>/<name>.svg` (and
/// `<out>/<name>-memory.svg` when there are memory rows).
pub fn write(out: &Path, r: &Report) -> std::io::Result<String> {
    let (name, title, peer) = (r.name, r.title, r.peer);
    let mut md = String::new();
    let _ = writeln!(md, "# {title}\n");
    let _ = writeln!(md, "Machine: {}.\n", machine(peer));
    let _ = writeln!(md, "Reproduce (as root, from the repository):\n\n```\n{}\n```\n", r.command);
    let _ = writeln!(md, "{}\n", r.notes);
    let _ = writeln!(md, "Milliseconds; berth and {peer} measured in the same run, interleaved.\n");
    let _ = writeln!(md, "| figure | berth median | p90 | min–max | {peer} median | p90 | min–max | ratio berth/{peer} (medians) |");
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
    for f in r.figures {
        let (b, c) = (summarize(&f.berth), summarize(&f.peer));
        let _ = writeln!(
            md,
            "| {} | {} | {} | **{:.2}** |",
            f.name,
            row(&b),
            row(&c),
            b.median / c.median
        );
    }
    for f in r.floors {
        let s = summarize(&f.samples);
        let _ = writeln!(md, "| {} (floor, no runtime) | {} | | | | |", f.name, row(&s));
    }
    let _ = writeln!(md, "\n![samples]({name}.svg)");
    std::fs::create_dir_all(out)?;
    if !r.memory.is_empty() {
        let _ = writeln!(md, "\nMemory, MiB (medians over the runs; min–max in brackets).\n");
        let _ = writeln!(md, "| memory | berth | {peer} | ratio berth/{peer} |");
        let _ = writeln!(md, "|---|---|---|---|");
        for m in r.memory {
            let (b, c) = (median(&m.berth), median(&m.peer));
            let _ = writeln!(
                md,
                "| {} | {:.2} [{}] | {:.2} [{}] | **{:.2}** |",
                m.name,
                b,
                range(&m.berth),
                c,
                range(&m.peer),
                b / c
            );
        }
        let _ = writeln!(md, "\n![memory]({name}-memory.svg)");
        std::fs::write(
            out.join(format!("{name}-memory.svg")),
            memory_svg(&format!("{title}: memory"), peer, r.memory),
        )?;
    }
    std::fs::write(out.join(format!("{name}.md")), &md)?;
    std::fs::write(out.join(format!("{name}.svg")), svg(title, peer, r.figures))?;
    Ok(md)
}

fn range(v: &[f64]) -> String {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(0.0, f64::max);
    format!("{min:.2}–{max:.2}")
}

/// One pair of bars (berth, the peer) per memory row, medians, each row
/// scaled to its larger bar.
fn memory_svg(title: &str, peer: &str, rows: &[MemRow]) -> String {
    let (row_h, left, width) = (46.0, 330.0, 900.0);
    let plot_w = width - left - 150.0;
    let height = 60.0 + rows.len() as f64 * row_h + 30.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"10\" y=\"22\" font-size=\"15\">{title}</text>\n"
    );
    let mut y = 45.0;
    for m in rows {
        let (b, c) = (median(&m.berth), median(&m.peer));
        let max = b.max(c).max(1e-9);
        let _ = writeln!(s, "<text x=\"10\" y=\"{}\">{}</text>", y + 24.0, m.name);
        for (k, (who, v, color)) in
            [("berth", b, "#1f77b4"), (peer, c, "#d62728")].into_iter().enumerate()
        {
            let yy = y + 4.0 + k as f64 * 19.0;
            let _ = writeln!(
                s,
                "<rect x=\"{left}\" y=\"{yy}\" width=\"{:.1}\" height=\"16\" fill=\"{color}\"/>",
                v / max * plot_w
            );
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{}\" fill=\"#333\">{who} {v:.2} MiB</text>",
                left + v / max * plot_w + 4.0,
                yy + 12.0
            );
        }
        y += row_h;
    }
    let _ = writeln!(s, "<text x=\"{left}\" y=\"{}\" fill=\"#555\">medians; each row scaled to its larger bar</text>", y + 15.0);
    s.push_str("</svg>\n");
    s
}

/// Every sample as a dot, one row per runtime under each figure's title;
/// medians as bars, their values in a column on the right.
fn svg(title: &str, peer: &str, figures: &[Figure]) -> String {
    let (row_h, title_h, left, width) = (22.0, 20.0, 100.0, 900.0);
    let plot_w = width - left - 110.0;
    let height = 50.0 + figures.len() as f64 * (title_h + 2.0 * row_h + 8.0) + 30.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"10\" y=\"22\" font-size=\"15\">{title}</text>\n"
    );
    let mut y = 40.0;
    for f in figures {
        let _ =
            writeln!(s, "<text x=\"10\" y=\"{}\" font-weight=\"bold\">{}</text>", y + 15.0, f.name);
        y += title_h;
        let max = f
            .berth
            .iter()
            .chain(&f.peer)
            .map(|d| d.as_secs_f64() * 1000.0)
            .fold(0.0f64, f64::max)
            .max(1e-9);
        for (who, samples, color) in [("berth", &f.berth, "#1f77b4"), (peer, &f.peer, "#d62728")] {
            let m = summarize(samples).median;
            let _ = writeln!(s, "<text x=\"20\" y=\"{}\">{who}</text>", y + 15.0);
            let _ = writeln!(s, "<rect x=\"{left}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"{color}\" opacity=\"0.25\"/>", y + 3.0, m / max * plot_w, row_h - 6.0);
            for d in samples.iter() {
                let x = left + d.as_secs_f64() * 1000.0 / max * plot_w;
                let _ = writeln!(
                    s,
                    "<circle cx=\"{x:.1}\" cy=\"{}\" r=\"3\" fill=\"{color}\" opacity=\"0.7\"/>",
                    y + row_h / 2.0
                );
            }
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{}\" fill=\"#333\">{m:.1} ms</text>",
                left + plot_w + 12.0,
                y + 15.0
            );
            y += row_h;
        }
        y += 8.0;
    }
    let _ = writeln!(s, "<text x=\"{left}\" y=\"{}\" fill=\"#555\">dots: samples; bars and right column: medians (each figure scaled to its slowest sample)</text>", y + 15.0);
    s.push_str("</svg>\n");
    s
}
