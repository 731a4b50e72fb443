//! `access.static.*`: which users and groups may do admin-only actions.
//!
//! Lists only; the API decides what each action covers.

use serde_json::{Value, json};

use super::error::{Error, Problem};
use super::parse;
use super::source::{Loader, Setting};

const fn a(env: &'static str, yaml: &'static str) -> Setting {
    Setting { env, yaml }
}

const TYPE: Setting = a("KUMA_ACCESS_TYPE", "access.type");
const ADMIN_USERS: Setting =
    a("KUMA_ACCESS_STATIC_ADMIN_RESOURCES_USERS", "access.static.adminResources.users");
const ADMIN_GROUPS: Setting =
    a("KUMA_ACCESS_STATIC_ADMIN_RESOURCES_GROUPS", "access.static.adminResources.groups");
const DP_TOKEN_USERS: Setting =
    a("KUMA_ACCESS_STATIC_GENERATE_DP_TOKEN_USERS", "access.static.generateDpToken.users");
const DP_TOKEN_GROUPS: Setting =
    a("KUMA_ACCESS_STATIC_GENERATE_DP_TOKEN_GROUPS", "access.static.generateDpToken.groups");
const USER_TOKEN_USERS: Setting =
    a("KUMA_ACCESS_STATIC_GENERATE_USER_TOKEN_USERS", "access.static.generateUserToken.users");
const USER_TOKEN_GROUPS: Setting =
    a("KUMA_ACCESS_STATIC_GENERATE_USER_TOKEN_GROUPS", "access.static.generateUserToken.groups");
const ZONE_TOKEN_USERS: Setting =
    a("KUMA_ACCESS_STATIC_GENERATE_ZONE_TOKEN_USERS", "access.static.generateZoneToken.users");
const ZONE_TOKEN_GROUPS: Setting =
    a("KUMA_ACCESS_STATIC_GENERATE_ZONE_TOKEN_GROUPS", "access.static.generateZoneToken.groups");

const ADMIN_GROUP: &str = "mesh-system:admin";

/// `access.static.*` (`access.type` must be `static`, the only type in OSS Kuma).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// Who may manage Secret and GlobalSecret resources.
    pub admin_resources: Allowed,
    /// Who may generate dataplane tokens.
    pub generate_dp_token: Allowed,
    /// Who may generate user tokens.
    pub generate_user_token: Allowed,
    /// Who may generate zone tokens.
    pub generate_zone_token: Allowed,
}

/// Users and groups allowed one action. Defaults: no users, the group `mesh-system:admin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    /// User names.
    pub users: Vec<String>,
    /// Group names.
    pub groups: Vec<String>,
}

impl Allowed {
    fn load(loader: &Loader<'_>, users: &Setting, groups: &Setting) -> Result<Self, Error> {
        Ok(Self {
            users: loader.list(users, parse::text)?.unwrap_or_default(),
            groups: loader
                .list(groups, parse::text)?
                .unwrap_or_else(|| vec![ADMIN_GROUP.to_owned()]),
        })
    }

    fn to_json(&self) -> Value {
        json!({ "users": self.users, "groups": self.groups })
    }
}

impl Access {
    pub(super) fn load(loader: &Loader<'_>) -> Result<Self, Error> {
        loader.value(&TYPE, |v| match v {
            "static" => Ok(()),
            other => Err(Problem::OneOf { value: other.to_owned(), allowed: "static" }),
        })?;
        Ok(Self {
            admin_resources: Allowed::load(loader, &ADMIN_USERS, &ADMIN_GROUPS)?,
            generate_dp_token: Allowed::load(loader, &DP_TOKEN_USERS, &DP_TOKEN_GROUPS)?,
            generate_user_token: Allowed::load(loader, &USER_TOKEN_USERS, &USER_TOKEN_GROUPS)?,
            generate_zone_token: Allowed::load(loader, &ZONE_TOKEN_USERS, &ZONE_TOKEN_GROUPS)?,
        })
    }

    pub(super) fn to_json(&self) -> Value {
        json!({
            "type": "static",
            "static": {
                "adminResources": self.admin_resources.to_json(),
                "generateDpToken": self.generate_dp_token.to_json(),
                "generateUserToken": self.generate_user_token.to_json(),
                "generateZoneToken": self.generate_zone_token.to_json(),
            },
        })
    }
}
