//! The protobuf messages of BuildKit's session that berth speaks: fsutil's
//! `Packet`/`Stat` (the file sync), the secrets service's, and the build
//! progress (`StatusResponse`, which the docker CLI draws). Only the
//! fields berth reads or writes; tags as BuildKit's `.proto` files have them.

/// fsutil's `Packet.PacketType`.
pub mod packet {
    pub const STAT: i32 = 0;
    pub const REQ: i32 = 1;
    pub const DATA: i32 = 2;
    pub const FIN: i32 = 3;
    pub const ERR: i32 = 4;
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Packet {
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(message, optional, tag = "2")]
    pub stat: Option<Stat>,
    #[prost(uint32, tag = "3")]
    pub id: u32,
    #[prost(bytes = "bytes", tag = "4")]
    pub data: bytes::Bytes,
}

/// A file as fsutil sends it: `mode` is Go's `os.FileMode`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Stat {
    #[prost(string, tag = "1")]
    pub path: String,
    #[prost(uint32, tag = "2")]
    pub mode: u32,
    #[prost(uint32, tag = "3")]
    pub uid: u32,
    #[prost(uint32, tag = "4")]
    pub gid: u32,
    #[prost(int64, tag = "5")]
    pub size: i64,
    #[prost(int64, tag = "6")]
    pub mod_time: i64,
    #[prost(string, tag = "7")]
    pub linkname: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetSecretRequest {
    #[prost(string, tag = "1")]
    pub id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetSecretResponse {
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CredentialsRequest {
    #[prost(string, tag = "1")]
    pub host: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CredentialsResponse {
    #[prost(string, tag = "1")]
    pub username: String,
    #[prost(string, tag = "2")]
    pub secret: String,
}

/// The ssh forwarding's chunks of the agent's conversation.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BytesMessage {
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CheckAgentRequest {
    #[prost(string, tag = "1")]
    pub id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CheckAgentResponse {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusResponse {
    #[prost(message, repeated, tag = "1")]
    pub vertexes: Vec<Vertex>,
    #[prost(message, repeated, tag = "3")]
    pub logs: Vec<VertexLog>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Vertex {
    #[prost(string, tag = "1")]
    pub digest: String,
    #[prost(string, repeated, tag = "2")]
    pub inputs: Vec<String>,
    #[prost(string, tag = "3")]
    pub name: String,
    #[prost(bool, tag = "4")]
    pub cached: bool,
    #[prost(message, optional, tag = "5")]
    pub started: Option<prost_types::Timestamp>,
    #[prost(message, optional, tag = "6")]
    pub completed: Option<prost_types::Timestamp>,
    #[prost(string, tag = "7")]
    pub error: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct VertexLog {
    #[prost(string, tag = "1")]
    pub vertex: String,
    #[prost(message, optional, tag = "2")]
    pub timestamp: Option<prost_types::Timestamp>,
    #[prost(int64, tag = "3")]
    pub stream: i64,
    #[prost(bytes = "vec", tag = "4")]
    pub msg: Vec<u8>,
}

/// Go's `os.FileMode` type bits, as fsutil sends them.
pub mod mode {
    pub const DIR: u32 = 1 << 31;
    pub const SYMLINK: u32 = 1 << 27;
    pub const DEVICE: u32 = 1 << 26;
    pub const NAMED_PIPE: u32 = 1 << 25;
    pub const SOCKET: u32 = 1 << 24;
    pub const SETUID: u32 = 1 << 23;
    pub const SETGID: u32 = 1 << 22;
    pub const CHAR_DEVICE: u32 = 1 << 21;
    pub const STICKY: u32 = 1 << 20;
    pub const IRREGULAR: u32 = 1 << 19;
    /// Every type bit: none set is a regular file.
    pub const TYPE: u32 = DIR | SYMLINK | NAMED_PIPE | SOCKET | DEVICE | CHAR_DEVICE | IRREGULAR;

    /// The Unix permission bits (with setuid, setgid, sticky).
    pub fn unix_perm(m: u32) -> u32 {
        let mut p = m & 0o777;
        if m & SETUID != 0 {
            p |= 0o4000;
        }
        if m & SETGID != 0 {
            p |= 0o2000;
        }
        if m & STICKY != 0 {
            p |= 0o1000;
        }
        p
    }
}
