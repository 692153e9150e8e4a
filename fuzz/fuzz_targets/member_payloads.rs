//! Any bytes as a group-member or campaign-member payload: each parser answers the members or
//! a 4xx error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_server::members::{CampaignMembers, Members, campaign_users};

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = serde_json::from_slice(data) {
        let _ = Members::parse(body, 1000);
    }
    if let Ok(Some(users)) = campaign_users(data) {
        let _ = CampaignMembers::parse(users, 1000);
    }
});
