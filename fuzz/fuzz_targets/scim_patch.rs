//! Any JSON as a SCIM PATCH body: parsing, splitting off member steps and applying the
//! operations to a user resource answer a result or a SCIM error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_scim::PatchRequest;
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(request) = PatchRequest::parse(&body) else {
        return;
    };
    let _ = request.member_steps();
    let mut user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "ann@example.com",
        "active": true,
        "name": {"givenName": "Ann"},
        "emails": [{"value": "ann@example.com", "type": "work", "primary": true}],
        "members": [{"value": "7b0c6c2e-1f5a-4d1b-9a52-3c3f1c2b9d10"}]
    });
    let _ = request.apply(&mut user);
});
