//! Property protections (Images API v2.2), read from the file Glance operators already
//! write, `property-protections-roles.conf`:
//!
//! ```text
//! [^x_billing_.*]
//! create = admin
//! read = admin
//! update = admin
//! delete = admin
//!
//! [^os_.*]
//! create = admin,member
//! read = @
//! update = admin,member
//! delete = admin
//!
//! [.*]
//! create = @
//! read = @
//! update = @
//! delete = @
//! ```
//!
//! Each section name is a regular expression over property names; its four keys list the
//! roles allowed to create, read, update and delete matching properties. `@` is any role,
//! `!` nobody, an empty value nobody. The first section (in file order) whose expression
//! matches decides. Matching is Glance's `re.search`: unanchored, so operators write `^`
//! when they mean a prefix, as in Glance's own sample file.
//!
//! Where this differs from Glance: a property that matches **no** section is allowed here,
//! while Glance refuses it (its `check_property_rules` returns false when no rule matches).
//! A file that ends with a catch-all `[.*]` section, as Glance's documentation recommends,
//! behaves the same under both.
//!
//! The file is parsed by hand rather than with an INI crate because the format needs what
//! generic INI readers do not give: section names that are regular expressions (they may
//! contain `[`, `]`, `.`, `;` or `=`), sections kept in file order, and errors that name the
//! line. Python's `ConfigParser` conventions are kept: `=` or `:` separates key and value,
//! keys are case-insensitive, whole-line comments start with `#` or `;`, and a `[DEFAULT]`
//! section supplies keys the other sections leave out.

use std::fmt;

use regex::Regex;

use crate::domain::identity::Role;

/// What a caller does to a user property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropertyOp {
    Create,
    Read,
    Update,
    Delete,
}

impl PropertyOp {
    pub const ALL: [PropertyOp; 4] = [
        PropertyOp::Create,
        PropertyOp::Read,
        PropertyOp::Update,
        PropertyOp::Delete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PropertyOp::Create => "create",
            PropertyOp::Read => "read",
            PropertyOp::Update => "update",
            PropertyOp::Delete => "delete",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for PropertyOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The operator's rules, in file order.
#[derive(Debug, Clone, Default)]
pub struct PropertyProtections {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    pattern: Regex,
    /// Indexed by [`PropertyOp::index`].
    permissions: [Permission; 4],
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Permission {
    Anyone,
    Nobody,
    Roles(Vec<String>),
}

impl Permission {
    fn parse(value: &str) -> Result<Permission, String> {
        let names: Vec<&str> = value
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        let anyone = names.contains(&"@");
        let nobody = names.contains(&"!");
        match (anyone, nobody) {
            (true, true) => Err(format!("'@' and '!' are mutually exclusive in '{value}'")),
            (true, false) => Ok(Permission::Anyone),
            (false, true) => Ok(Permission::Nobody),
            (false, false) if names.is_empty() => Ok(Permission::Nobody),
            (false, false) => Ok(Permission::Roles(
                names.into_iter().map(str::to_string).collect(),
            )),
        }
    }

    fn allows(&self, roles: &[Role]) -> bool {
        match self {
            Permission::Anyone => true,
            Permission::Nobody => false,
            Permission::Roles(names) => roles
                .iter()
                .any(|role| names.iter().any(|n| n.eq_ignore_ascii_case(role.as_str()))),
        }
    }
}

/// A section while it is read: its header line, and the line of each key seen.
struct Section {
    name: String,
    line: usize,
    values: [Option<String>; 4],
}

impl PropertyProtections {
    /// Reads a `property-protections-roles.conf`. Errors name the line: a bad regular
    /// expression, an unknown key, a section missing one of `create`/`read`/`update`/`delete`.
    pub fn parse(text: &str) -> Result<PropertyProtections, String> {
        let mut defaults: [Option<String>; 4] = Default::default();
        let mut sections: Vec<Section> = Vec::new();
        let mut in_default = false;

        for (index, raw) in text.lines().enumerate() {
            let n = index + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if line.starts_with('[') {
                let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) else {
                    return Err(format!(
                        "line {n}: a section header must end with ']': {line}"
                    ));
                };
                if name.is_empty() {
                    return Err(format!("line {n}: empty section name"));
                }
                if name == "DEFAULT" {
                    in_default = true;
                    continue;
                }
                if let Some(earlier) = sections.iter().find(|s| s.name == name) {
                    return Err(format!(
                        "line {n}: section [{name}] appears twice (first on line {})",
                        earlier.line
                    ));
                }
                in_default = false;
                sections.push(Section {
                    name: name.to_string(),
                    line: n,
                    values: Default::default(),
                });
                continue;
            }
            let Some(split) = line.find(['=', ':']) else {
                return Err(format!("line {n}: expected 'key = value', found: {line}"));
            };
            let key = line[..split].trim().to_ascii_lowercase();
            let value = line[split + 1..].trim().to_string();
            let Some(op) = PropertyOp::ALL.into_iter().find(|op| op.as_str() == key) else {
                return Err(format!(
                    "line {n}: unknown key '{key}': expected create, read, update or delete"
                ));
            };
            let slot = if in_default {
                &mut defaults[op.index()]
            } else if let Some(section) = sections.last_mut() {
                &mut section.values[op.index()]
            } else {
                return Err(format!("line {n}: '{key}' appears before any [section]"));
            };
            if slot.is_some() {
                return Err(format!("line {n}: '{key}' is given twice in this section"));
            }
            *slot = Some(value);
        }

        let mut rules = Vec::with_capacity(sections.len());
        for section in sections {
            let Section { name, line, values } = section;
            let pattern = Regex::new(&name).map_err(|e| {
                format!("line {line}: [{name}] is not a valid regular expression: {e}")
            })?;
            let mut permissions: [Permission; 4] = std::array::from_fn(|_| Permission::Nobody);
            for op in PropertyOp::ALL {
                let value = values[op.index()]
                    .as_ref()
                    .or(defaults[op.index()].as_ref())
                    .ok_or_else(|| format!("line {line}: section [{name}] has no '{op}' key"))?;
                permissions[op.index()] = Permission::parse(value)
                    .map_err(|e| format!("line {line}: section [{name}], '{op}': {e}"))?;
            }
            rules.push(Rule {
                pattern,
                permissions,
            });
        }
        Ok(PropertyProtections { rules })
    }

    /// Whether a caller holding `roles` may do `op` on the user property `property`.
    pub fn allows(&self, property: &str, op: PropertyOp, roles: &[Role]) -> bool {
        match self.rules.iter().find(|r| r.pattern.is_match(property)) {
            Some(rule) => rule.permissions[op.index()].allows(roles),
            None => true,
        }
    }

    /// The number of sections (rules) read.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The issue's policy: a member can't read `x_billing_*` and can't delete `os_*`.
    pub(crate) const ISSUE_POLICY: &str = "\
# property-protections-roles.conf
[^x_billing_.*]
create = admin
read = admin
update = admin
delete = admin

[^os_.*]
create = admin,member
read = @
update = admin,member
delete = admin

[.*]
create = @
read = @
update = @
delete = @
";

    const ADMIN: &[Role] = &[Role::Admin];
    const MEMBER: &[Role] = &[Role::Member];
    const READER: &[Role] = &[Role::Reader];

    #[test]
    fn the_issue_policy() {
        let p = PropertyProtections::parse(ISSUE_POLICY).unwrap();
        assert_eq!(p.len(), 3);
        for op in PropertyOp::ALL {
            assert!(p.allows("x_billing_code", op, ADMIN), "{op}");
            assert!(!p.allows("x_billing_code", op, MEMBER), "{op}");
        }
        assert!(!p.allows("x_billing_code", PropertyOp::Read, READER));

        assert!(p.allows("os_distro", PropertyOp::Create, MEMBER));
        assert!(p.allows("os_distro", PropertyOp::Read, MEMBER));
        assert!(p.allows("os_distro", PropertyOp::Update, MEMBER));
        assert!(!p.allows("os_distro", PropertyOp::Delete, MEMBER));
        assert!(p.allows("os_distro", PropertyOp::Delete, ADMIN));
        assert!(p.allows("os_distro", PropertyOp::Read, READER));
        assert!(!p.allows("os_distro", PropertyOp::Update, READER));

        for op in PropertyOp::ALL {
            assert!(p.allows("color", op, MEMBER), "{op}");
        }
        // Several roles: any one of them is enough.
        assert!(p.allows(
            "os_distro",
            PropertyOp::Delete,
            &[Role::Member, Role::Admin]
        ));
    }

    #[test]
    fn first_matching_section_decides_and_matching_is_unanchored() {
        let p = PropertyProtections::parse(
            "[billing]\ncreate=!\nread=!\nupdate=!\ndelete=!\n\
             [^x_billing]\ncreate=@\nread=@\nupdate=@\ndelete=@\n",
        )
        .unwrap();
        // `billing` is searched anywhere in the name, as Glance's re.search does, and the
        // first section wins over the later, more specific one.
        assert!(!p.allows("x_billing_code", PropertyOp::Read, ADMIN));
        assert!(!p.allows("billing", PropertyOp::Read, ADMIN));
        assert!(
            p.allows("color", PropertyOp::Read, READER),
            "no section matches"
        );
    }

    #[test]
    fn empty_value_is_nobody_and_unknown_roles_never_match() {
        let p = PropertyProtections::parse(
            "[^a$]\ncreate =\nread = operator, Admin\nupdate = !\ndelete = member\n",
        )
        .unwrap();
        assert!(!p.allows("a", PropertyOp::Create, ADMIN));
        assert!(
            p.allows("a", PropertyOp::Read, ADMIN),
            "role names ignore case"
        );
        assert!(!p.allows("a", PropertyOp::Read, MEMBER));
        assert!(!p.allows("a", PropertyOp::Update, ADMIN));
        assert!(p.allows("a", PropertyOp::Delete, MEMBER));
        assert!(!p.allows("a", PropertyOp::Delete, &[]));
    }

    #[test]
    fn configparser_conventions() {
        let p = PropertyProtections::parse(
            "; comment\n[DEFAULT]\nread: @\nDelete = !\n\n[^k_.*]\nCREATE: admin\nupdate=admin\n",
        )
        .unwrap();
        assert!(p.allows("k_1", PropertyOp::Read, READER));
        assert!(!p.allows("k_1", PropertyOp::Delete, ADMIN));
        assert!(p.allows("k_1", PropertyOp::Create, ADMIN));
        assert!(!p.allows("k_1", PropertyOp::Create, MEMBER));
        assert_eq!(p.len(), 1, "[DEFAULT] is not a rule");
        assert!(PropertyProtections::parse("").unwrap().is_empty());
    }

    #[test]
    fn errors_name_the_line() {
        let err = |text: &str| PropertyProtections::parse(text).unwrap_err();
        let e = err(
            "[ok]\ncreate=@\nread=@\nupdate=@\ndelete=@\n[(unclosed]\ncreate=@\nread=@\nupdate=@\ndelete=@\n",
        );
        assert!(
            e.starts_with("line 6: [(unclosed] is not a valid regular expression"),
            "{e}"
        );
        let e = err("[a]\ncreate=@\nremove=@\n");
        assert!(e.starts_with("line 3: unknown key 'remove'"), "{e}");
        let e = err("\n[a]\ncreate=@\nread=@\nupdate=@\n");
        assert_eq!(e, "line 2: section [a] has no 'delete' key");
        let e = err("create=@\n");
        assert!(e.starts_with("line 1: "), "{e}");
        let e = err("[a]\ncreate=@,!\nread=@\nupdate=@\ndelete=@\n");
        assert!(
            e.starts_with("line 1: ") && e.contains("mutually exclusive"),
            "{e}"
        );
        let e = err("[a]\njust words\n");
        assert!(e.starts_with("line 2: expected 'key = value'"), "{e}");
        let e = err("[a]\ncreate=@\ncreate=!\n");
        assert!(e.starts_with("line 3: ") && e.contains("twice"), "{e}");
        let e = err("[a\n");
        assert!(e.starts_with("line 1: "), "{e}");
    }
}
