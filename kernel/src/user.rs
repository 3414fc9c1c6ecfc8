//! Resolves `user[:group]` against a container's /etc/passwd and /etc/group,
//! the way Docker does. Pure parsing; the caller reads the files from inside
//! the container's root (after pivot_root), so an image's symlinks can never
//! point the lookup at host files.

/// The identity a container process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, primary gid first.
    pub groups: Vec<u32>,
    pub home: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
    #[error("invalid user spec {0:?}")]
    Invalid(String),
}

struct Passwd<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct Group<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = Passwd<'_>> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 7 || l.starts_with('#') {
            return None;
        }
        Some(Passwd { name: f[0], uid: f[2].parse().ok()?, gid: f[3].parse().ok()?, home: f[5] })
    })
}

fn group_entries(text: &str) -> impl Iterator<Item = Group<'_>> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 4 || l.starts_with('#') {
            return None;
        }
        let members = f[3].split(',').filter(|m| !m.is_empty()).collect();
        Some(Group { name: f[0], gid: f[2].parse().ok()?, members })
    })
}

/// Resolves `spec` (`""`, `uid`, `name`, `uid:gid`, `name:group`, ...).
/// `passwd` and `group` are the file contents (empty when missing).
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<ExecUser, UserError> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if g == Some("") {
        return Err(UserError::Invalid(spec.to_owned()));
    }
    let u = if u.is_empty() { "0" } else { u };
    let entry = match u.parse::<u32>() {
        Ok(uid) => passwd_entries(passwd).find(|p| p.uid == uid),
        Err(_) => Some(
            passwd_entries(passwd)
                .find(|p| p.name == u)
                .ok_or_else(|| UserError::NoUser(u.to_owned()))?,
        ),
    };
    let (uid, mut gid, home, name) = match (&entry, u.parse::<u32>()) {
        (Some(p), _) => (p.uid, p.gid, p.home.to_owned(), Some(p.name)),
        (None, Ok(uid)) => (uid, 0, "/".to_owned(), None),
        (None, Err(_)) => unreachable!("named users were found or refused above"),
    };
    if let Some(g) = g {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group_entries(group)
                .find(|e| e.name == g)
                .map(|e| e.gid)
                .ok_or_else(|| UserError::NoGroup(g.to_owned()))?,
        };
    }
    let mut groups = vec![gid];
    if let Some(name) = name {
        for e in group_entries(group) {
            if e.members.contains(&name) && !groups.contains(&e.gid) {
                groups.push(e.gid);
            }
        }
    }
    Ok(ExecUser { uid, gid, groups, home })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n";
    const GROUP: &str =
        "root:x:0:\nalice:x:1000:\nbob:x:1001:\nwheel:x:10:alice,bob\naudio:x:29:alice\n";

    #[test]
    fn resolves_forms() {
        let a = resolve("alice", PASSWD, GROUP).unwrap();
        assert_eq!(
            (a.uid, a.gid, a.groups.clone(), a.home.as_str()),
            (1000, 1000, vec![1000, 10, 29], "/home/alice")
        );
        assert_eq!(resolve("", PASSWD, GROUP).unwrap().uid, 0);
        assert_eq!(resolve("1001:wheel", PASSWD, GROUP).unwrap().gid, 10);
        let n = resolve("4242:4243", PASSWD, GROUP).unwrap();
        assert_eq!((n.uid, n.gid, n.home.as_str()), (4242, 4243, "/"));
        assert_eq!(resolve("4242", "", "").unwrap().gid, 0);
    }

    #[test]
    fn refuses_unknown() {
        assert_eq!(resolve("mallory", PASSWD, GROUP), Err(UserError::NoUser("mallory".into())));
        assert_eq!(
            resolve("alice:nogroup", PASSWD, GROUP),
            Err(UserError::NoGroup("nogroup".into()))
        );
        assert!(resolve("alice:", PASSWD, GROUP).is_err());
    }
}
