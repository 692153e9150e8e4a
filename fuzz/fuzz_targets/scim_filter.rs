//! Any text as a SCIM filter: parsing answers a filter or an error, never a panic, and a parsed
//! filter evaluates against a resource without panicking either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_scim::Filter;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(filter) = Filter::parse(text) {
        let user = json!({
            "id": "7b0c6c2e-1f5a-4d1b-9a52-3c3f1c2b9d10",
            "userName": "ann@example.com",
            "active": true,
            "name": {"givenName": "Ann", "familyName": "Lee"},
            "emails": [{"value": "ann@example.com", "type": "work", "primary": true}],
            "meta": {"lastModified": "2026-11-27T10:00:00Z", "version": "W/\"3\""},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Ops"}
        });
        let _ = filter.matches(&user, &|_| false);
        let _ = filter.matches(&user, &|_| true);
    }
});
