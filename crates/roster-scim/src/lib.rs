//! SCIM 2.0 (RFC 7643 core schema, RFC 7644 protocol) as plain data and functions, with no web
//! or database code: the published schemas and resource types, the filter grammar, attribute
//! paths, PATCH requests and the engine that applies them, and the SCIM error body. The server
//! maps these onto Roster's store.

pub mod discovery;
pub mod error;
pub mod filter;
pub mod patch;
pub mod path;

pub use error::{ScimError, ScimType};
pub use filter::{CompareOp, Filter};
pub use patch::{MemberStep, PatchOp, PatchOperation, PatchRequest};
pub use path::{AttrPath, PatchPath};

/// Schema URNs this crate knows by name.
pub mod urn {
    pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
    pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    /// Roster's own User extension: the person's role in the team.
    pub const ROSTER_USER: &str = "urn:ietf:params:scim:schemas:extension:roster:2.0:User";
    pub const SERVICE_PROVIDER_CONFIG: &str =
        "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
    pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
    pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
    pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
    pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
    pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
    pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
}

#[cfg(test)]
mod robustness {
    use crate::{AttrPath, Filter, PatchPath, PatchRequest};

    /// Every parser answers arbitrary text with Ok or a 400, never a panic.
    #[test]
    fn parsers_never_panic_on_odd_input() {
        const PIECES: &[&str] = &[
            "urn:",
            ":",
            ".",
            "[",
            "]",
            "(",
            ")",
            "\"",
            "\\",
            " ",
            "eq",
            "and",
            "or",
            "not",
            "pr",
            "x",
            "User",
            "userName",
            "1",
            "-",
            "e",
            "true",
            "null",
            "é",
            "р",
            "😀",
            "\u{0}",
            "[value eq \"",
        ];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..5_000 {
            let mut text = String::new();
            for _ in 0..(seed % 24) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push_str(PIECES[(seed % PIECES.len() as u64) as usize]);
            }
            for outcome in [
                Filter::parse(&text).err(),
                AttrPath::parse(&text).err(),
                PatchPath::parse(&text).err(),
            ]
            .into_iter()
            .flatten()
            {
                assert_eq!(outcome.status, 400, "{text:?}");
            }
            let body = serde_json::json!({"Operations": [{"op": "replace", "path": text, "value": {"a": text}}]});
            if let Err(e) = PatchRequest::parse(&body) {
                assert_eq!(e.status, 400, "{text:?}");
            }
        }
    }
}
