//! Flavors: the hardware configurations servers are built with.

use super::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flavor {
    /// A positive integer, as the seed's flavor index requires.
    pub id: i64,
    pub name: String,
    pub vcpus: u32,
    /// MiB.
    pub ram: u32,
    /// GiB.
    pub disk: u32,
    /// `SNF:disk_template`: the storage mechanism behind the server's disk.
    pub disk_template: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewFlavor {
    pub name: String,
    pub vcpus: u32,
    pub ram: u32,
    pub disk: u32,
    pub disk_template: String,
}

pub const DEFAULT_DISK_TEMPLATE: &str = "file";

impl NewFlavor {
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() || self.name.len() > 255 {
            return Err("flavor name must be 1 to 255 characters long".into());
        }
        if self.name.chars().any(char::is_control) {
            return Err("flavor name must not contain control characters".into());
        }
        if self.vcpus == 0 || self.vcpus > 256 {
            return Err(format!("vcpus {} must be between 1 and 256", self.vcpus));
        }
        if self.ram < 64 {
            return Err(format!("ram {} MiB must be at least 64", self.ram));
        }
        if self.disk == 0 {
            return Err("disk must be at least 1 GiB".into());
        }
        if self.disk_template.is_empty()
            || !self
                .disk_template
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "disk template '{}' must be letters, digits, '_' or '-'",
                self.disk_template
            ));
        }
        Ok(())
    }

    /// The flavors a fresh deployment starts with, named the way Synnefo names them.
    pub fn defaults() -> Vec<NewFlavor> {
        [(1, 512, 5), (1, 1024, 10), (2, 2048, 20), (4, 4096, 40)]
            .into_iter()
            .map(|(vcpus, ram, disk)| NewFlavor {
                name: format!("C{vcpus}R{ram}D{disk}{DEFAULT_DISK_TEMPLATE}"),
                vcpus,
                ram,
                disk,
                disk_template: DEFAULT_DISK_TEMPLATE.into(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        for f in NewFlavor::defaults() {
            f.validate().unwrap();
        }
    }

    #[test]
    fn rejects_nonsense() {
        let mut f = NewFlavor::defaults().remove(0);
        f.vcpus = 0;
        assert!(f.validate().unwrap_err().contains("vcpus"));
        let mut f = NewFlavor::defaults().remove(0);
        f.disk_template = "a b".into();
        assert!(f.validate().is_err());
    }
}
