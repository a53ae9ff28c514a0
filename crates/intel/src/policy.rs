//! The TLP 2.0 access policy: who may see an object.
//!
//! * CLEAR: everyone, anonymous callers included.
//! * GREEN: the author organisation and every organisation sharing a community with it.
//! * AMBER: the author organisation, the named recipient organisations and their clients
//!   (organisations registered as a client of a recipient).
//! * AMBER+STRICT: the author organisation and the named recipient organisations only.
//! * RED: the author organisation and the named recipients only.
//!
//! A reader must be cleared for every marking, so the most restrictive one decides
//! ([`crate::tlp::effective_level`]). Servers must make forbidden objects invisible
//! (404, never 403): this module only answers yes or no. The SQL filter of the server
//! mirrors [`can_read`]; its tests check both against each other.

use crate::tlp::Tlp;
use serde::{Deserialize, Serialize};

/// Database id of an organisation.
pub type OrgId = i64;

/// Database id of a community.
pub type CommunityId = i64;

/// An authenticated caller as the policy sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reader {
    /// The caller's organisation.
    pub org: OrgId,
    /// The organisation the caller's organisation is a client of, if any.
    pub client_of: Option<OrgId>,
    /// Communities the caller's organisation belongs to.
    pub communities: Vec<CommunityId>,
}

/// What the policy needs to know about an object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectAccess {
    /// Most restrictive TLP level of the object.
    pub level: Tlp,
    /// The organisation that wrote the object to this node.
    pub author_org: OrgId,
    /// Communities the author organisation belongs to.
    pub author_communities: Vec<CommunityId>,
    /// Named recipient organisations (AMBER, AMBER+STRICT, RED).
    pub recipients: Vec<OrgId>,
}

/// Whether `reader` (`None` = anonymous) may see an object.
pub fn can_read(reader: Option<&Reader>, object: &ObjectAccess) -> bool {
    if object.level == Tlp::Clear {
        return true;
    }
    let Some(r) = reader else { return false };
    if r.org == object.author_org {
        return true;
    }
    match object.level {
        Tlp::Clear => true,
        Tlp::Green => r
            .communities
            .iter()
            .any(|c| object.author_communities.contains(c)),
        Tlp::Amber => {
            object.recipients.contains(&r.org)
                || r.client_of.is_some_and(|p| object.recipients.contains(&p))
        }
        Tlp::AmberStrict | Tlp::Red => object.recipients.contains(&r.org),
    }
}

/// Whether reading an object at this level is written to the audit log (AMBER and above).
pub fn read_is_audited(level: Tlp) -> bool {
    level >= Tlp::Amber
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(level: Tlp) -> ObjectAccess {
        ObjectAccess {
            level,
            author_org: 1,
            author_communities: vec![10],
            recipients: vec![2],
        }
    }

    #[test]
    fn matrix() {
        let author = Reader {
            org: 1,
            client_of: None,
            communities: vec![10],
        };
        let recipient = Reader {
            org: 2,
            client_of: None,
            communities: vec![10],
        };
        let client = Reader {
            org: 5,
            client_of: Some(2),
            communities: vec![20],
        };
        let community = Reader {
            org: 3,
            client_of: None,
            communities: vec![10, 11],
        };
        let other = Reader {
            org: 4,
            client_of: None,
            communities: vec![20],
        };
        // (author, recipient, client of recipient, community, other, anonymous)
        let expect = [
            (Tlp::Clear, [true, true, true, true, true, true]),
            (Tlp::Green, [true, true, false, true, false, false]),
            (Tlp::Amber, [true, true, true, false, false, false]),
            (Tlp::AmberStrict, [true, true, false, false, false, false]),
            (Tlp::Red, [true, true, false, false, false, false]),
        ];
        for (level, want) in expect {
            let o = obj(level);
            let got = [
                can_read(Some(&author), &o),
                can_read(Some(&recipient), &o),
                can_read(Some(&client), &o),
                can_read(Some(&community), &o),
                can_read(Some(&other), &o),
                can_read(None, &o),
            ];
            assert_eq!(got, want, "{level}");
        }
    }
}
