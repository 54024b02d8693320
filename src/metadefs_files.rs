//! `cyclades metadefs import DIR` and `export DIR`: the catalog to and from a directory of
//! Glance's namespace files (`etc/metadefs/*.json`, one namespace each). The file format is
//! `domain::metadefs::catalog`; this module reads and writes the files and the store.
//!
//! An import reads and checks every file before it stores anything, so a bad file leaves
//! the catalog as it was; each namespace is then stored in its own transaction.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::domain::metadefs::catalog::{self, CatalogError};
use crate::domain::metadefs::request::NewNamespace;
use crate::domain::metadefs::{ItemKind, MdError};
use crate::domain::time;
use crate::store::{NamespaceQuery, NamespaceSortKey, Store, StoreError};

/// What an import or export moved.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub namespaces: usize,
    /// Namespace-level and object-level property definitions.
    pub properties: usize,
    pub objects: usize,
    pub associations: usize,
    pub tags: usize,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} namespaces, {} properties, {} objects, {} resource type associations, {} tags",
            self.namespaces, self.properties, self.objects, self.associations, self.tags
        )
    }
}

fn count(n: &NewNamespace, c: &mut Counts) {
    c.namespaces += 1;
    c.associations += n.associations.len();
    for i in &n.items {
        match i.kind {
            ItemKind::Property => c.properties += 1,
            ItemKind::Tag => c.tags += 1,
            ItemKind::Object => {
                c.objects += 1;
                c.properties += i
                    .body
                    .get("properties")
                    .and_then(|p| p.as_object())
                    .map_or(0, |p| p.len());
            }
        }
    }
}

/// The English text of a refusal, for the command line.
fn describe(e: &MdError) -> String {
    crate::api::image::metadefs::l10n::message(&unic_langid::langid!("en"), e)
}

fn json_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// Imports every `*.json` of `dir`. Namespaces without an `owner` get `owner`. An existing
/// namespace of the same name is an error unless `replace`.
pub async fn import(
    store: &dyn Store,
    dir: &Path,
    owner: &str,
    replace: bool,
) -> anyhow::Result<Counts> {
    let files = json_files(dir)?;
    if files.is_empty() {
        anyhow::bail!("{} holds no *.json namespace files", dir.display());
    }
    let now = time::now();
    let mut parsed = Vec::new();
    let mut names = std::collections::BTreeMap::new();
    for f in &files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        let ns = catalog::read(&text, owner, now).map_err(|e| match e {
            CatalogError::Json(m) => anyhow::anyhow!("{}: not valid JSON: {m}", f.display()),
            CatalogError::Invalid(e) => anyhow::anyhow!("{}: {}", f.display(), describe(&e)),
        })?;
        if let Some(other) = names.insert(ns.ns.namespace.clone(), f.clone()) {
            anyhow::bail!(
                "{} and {} both define namespace {}",
                other.display(),
                f.display(),
                ns.ns.namespace
            );
        }
        parsed.push(ns);
    }
    let mut counts = Counts::default();
    for ns in parsed {
        count(&ns, &mut counts);
        let name = ns.ns.namespace.clone();
        match store.create_metadef_namespace(ns, replace).await {
            Err(StoreError::Conflict(_)) => anyhow::bail!(
                "namespace {name} already exists (import with --replace to overwrite it)"
            ),
            other => other.with_context(|| format!("storing namespace {name}"))?,
        }
    }
    Ok(counts)
}

/// Writes every namespace into `dir` (created if needed), one file each.
pub async fn export(store: &dyn Store, dir: &Path) -> anyhow::Result<Counts> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut counts = Counts::default();
    let mut marker: Option<String> = None;
    // Distinct namespaces may map to one file name (`a:b` and `a_b`): later ones get a suffix.
    let mut used = std::collections::BTreeSet::new();
    loop {
        let page = store
            .list_metadef_namespaces(NamespaceQuery {
                project: String::new(),
                admin: true,
                visibility: None,
                resource_types: Vec::new(),
                sort_key: NamespaceSortKey::Namespace,
                ascending: true,
                marker: marker.clone(),
                limit: 500,
            })
            .await?;
        let Some(last) = page.last() else {
            break;
        };
        marker = Some(last.ns.namespace.clone());
        for r in &page {
            let items = store.metadef_items(&r.ns.namespace, None).await?;
            let doc = catalog::write(r, &items);
            let mut file = catalog::file_name(&r.ns.namespace);
            let stem = file.trim_end_matches(".json").to_owned();
            let mut n = 1;
            while !used.insert(file.clone()) {
                n += 1;
                file = format!("{stem}-{n}.json");
            }
            let path = dir.join(file);
            let text = serde_json::to_string_pretty(&doc)?;
            std::fs::write(&path, text + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
            let back =
                catalog::read(&serde_json::to_string(&doc)?, &r.ns.owner, r.ns.created_at)
                    .map_err(|_| anyhow::anyhow!("namespace {} does not export", r.ns.namespace))?;
            count(&back, &mut counts);
        }
    }
    Ok(counts)
}
