//! The workspace's layout rules, checked on the source itself:
//!
//! - no import loops: the file-level import graph of every workspace crate
//!   (each library, binary, test and benchmark target) has no cycle. A
//!   file imports another when it names an item the other defines, through
//!   a `use` (`crate::`, `super::`, `self::`, a child module or a name
//!   another `use` brought in) or a path in its code (macro bodies
//!   included). Re-exports are followed to the file that defines the item,
//!   so a `mod.rs` that re-exports its children does not tie them to it;
//!   `mod` declarations (resolved to files, `#[path]` included) build the
//!   module tree and are not imports themselves.
//! - no source file over 800 lines.
//!
//! Each failure is listed: every strongly connected set of files with the
//! imports that tie it together, every file over the limit.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// Longest source file, in lines.
const MAX_LINES: usize = 800;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Workspace member directories, from the root Cargo.toml.
fn members(root: &Path) -> Vec<PathBuf> {
    let toml = fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    let start = toml.find("members").expect("workspace members");
    let list = &toml[start..];
    let list = &list[list.find('[').expect("[") + 1..list.find(']').expect("]")];
    list.split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
        .map(|m| root.join(m))
        .collect()
}

/// A crate's target roots: `path = "….rs"` entries of its Cargo.toml and
/// the conventional ones that exist.
fn targets(dir: &Path) -> Vec<PathBuf> {
    let mut roots = BTreeSet::new();
    let toml = fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
    for line in toml.lines() {
        let line = line.trim();
        if let Some(v) = line.strip_prefix("path").map(str::trim) {
            if let Some(v) = v.strip_prefix('=') {
                let v = v.trim().trim_matches('"');
                if v.ends_with(".rs") {
                    roots.insert(dir.join(v));
                }
            }
        }
    }
    for f in ["src/lib.rs", "src/main.rs"] {
        roots.insert(dir.join(f));
    }
    for sub in ["src/bin", "tests", "benches", "examples"] {
        let Ok(entries) = fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "rs") {
                roots.insert(p);
            } else if p.join("main.rs").exists() {
                roots.insert(p.join("main.rs"));
            }
        }
    }
    roots.into_iter().filter(|p| p.is_file()).collect()
}

/// A `use` brought into a module: the name it binds (`None` for a glob)
/// and the path it names.
#[derive(Clone, Debug)]
struct Import {
    name: Option<String>,
    path: Vec<String>,
}

#[derive(Debug, Default)]
struct Module {
    file: PathBuf,
    parent: Option<usize>,
    children: BTreeMap<String, usize>,
    /// Items defined here (types, functions, constants, macros, ...).
    defined: BTreeSet<String>,
    imports: Vec<Import>,
    /// Paths named in code (not in `use`).
    paths: Vec<Vec<String>>,
}

/// One target's module tree.
struct Tree {
    modules: Vec<Module>,
    errors: Vec<String>,
}

fn flatten_use(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<Import>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            flatten_use(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            if name == "self" {
                out.push(Import {
                    name: prefix.last().cloned(),
                    path: prefix.clone(),
                });
            } else {
                let mut path = prefix.clone();
                path.push(name.clone());
                out.push(Import {
                    name: Some(name),
                    path,
                });
            }
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            let ident = r.ident.to_string();
            if ident != "self" {
                path.push(ident);
            }
            out.push(Import {
                name: Some(r.rename.to_string()),
                path,
            });
        }
        syn::UseTree::Glob(_) => out.push(Import {
            name: None,
            path: prefix.clone(),
        }),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                flatten_use(t, prefix, out);
            }
        }
    }
}

/// Collects the paths one module's code names, without entering inline
/// child modules (they are modules of their own).
#[derive(Default)]
struct PathCollector {
    paths: Vec<Vec<String>>,
}

impl PathCollector {
    /// `a::b::c` sequences in a macro's tokens.
    fn scan_tokens(&mut self, tokens: proc_macro2::TokenStream) {
        let mut current: Vec<String> = Vec::new();
        let mut colons = 0;
        for tt in tokens {
            match tt {
                proc_macro2::TokenTree::Ident(i) => {
                    if colons == 2 || current.is_empty() {
                        current.push(i.to_string());
                    } else {
                        self.flush(&mut current);
                        current.push(i.to_string());
                    }
                    colons = 0;
                }
                proc_macro2::TokenTree::Punct(p) if p.as_char() == ':' => colons += 1,
                proc_macro2::TokenTree::Group(g) => {
                    self.flush(&mut current);
                    colons = 0;
                    self.scan_tokens(g.stream());
                }
                _ => {
                    self.flush(&mut current);
                    colons = 0;
                }
            }
        }
        self.flush(&mut current);
    }

    fn flush(&mut self, current: &mut Vec<String>) {
        if current.len() > 1 {
            self.paths.push(std::mem::take(current));
        }
        current.clear();
    }
}

impl<'ast> Visit<'ast> for PathCollector {
    fn visit_item_mod(&mut self, _: &'ast syn::ItemMod) {}

    fn visit_item_use(&mut self, _: &'ast syn::ItemUse) {}

    fn visit_path(&mut self, p: &'ast syn::Path) {
        if p.leading_colon.is_none() && p.segments.len() > 1 {
            self.paths
                .push(p.segments.iter().map(|s| s.ident.to_string()).collect());
        }
        syn::visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        self.scan_tokens(m.tokens.clone());
        syn::visit::visit_macro(self, m);
    }
}

fn item_name(item: &syn::Item) -> Option<String> {
    Some(match item {
        syn::Item::Const(i) => i.ident.to_string(),
        syn::Item::Enum(i) => i.ident.to_string(),
        syn::Item::Fn(i) => i.sig.ident.to_string(),
        syn::Item::Macro(i) => i.ident.as_ref()?.to_string(),
        syn::Item::Static(i) => i.ident.to_string(),
        syn::Item::Struct(i) => i.ident.to_string(),
        syn::Item::Trait(i) => i.ident.to_string(),
        syn::Item::TraitAlias(i) => i.ident.to_string(),
        syn::Item::Type(i) => i.ident.to_string(),
        syn::Item::Union(i) => i.ident.to_string(),
        _ => return None,
    })
}

fn path_attr(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().find_map(|a| match &a.meta {
        syn::Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

impl Tree {
    fn build(root: &Path) -> Tree {
        let mut t = Tree {
            modules: Vec::new(),
            errors: Vec::new(),
        };
        t.load_file(root, None, None, root.parent().unwrap_or(Path::new(".")));
        t
    }

    /// Loads `file` as module `name` under `parent`; `dir` is where its
    /// own `mod x;` declarations look for files.
    fn load_file(
        &mut self,
        file: &Path,
        parent: Option<usize>,
        name: Option<&str>,
        dir: &Path,
    ) -> Option<usize> {
        let src = match fs::read_to_string(file) {
            Ok(s) => s,
            Err(e) => {
                self.errors.push(format!("{}: {e}", file.display()));
                return None;
            }
        };
        let ast = match syn::parse_file(&src) {
            Ok(a) => a,
            Err(e) => {
                self.errors
                    .push(format!("{}: does not parse: {e}", file.display()));
                return None;
            }
        };
        let id = self.new_module(file, parent, name);
        self.load_items(id, &ast.items, file, dir);
        Some(id)
    }

    fn new_module(&mut self, file: &Path, parent: Option<usize>, name: Option<&str>) -> usize {
        let id = self.modules.len();
        self.modules.push(Module {
            file: file.to_path_buf(),
            parent,
            ..Module::default()
        });
        if let (Some(p), Some(n)) = (parent, name) {
            self.modules[p].children.insert(n.to_string(), id);
        }
        id
    }

    fn load_items(&mut self, id: usize, items: &[syn::Item], file: &Path, dir: &Path) {
        let mut collector = PathCollector::default();
        for item in items {
            match item {
                syn::Item::Use(u) => {
                    let mut imports = Vec::new();
                    flatten_use(&u.tree, &mut Vec::new(), &mut imports);
                    self.modules[id].imports.extend(imports);
                }
                syn::Item::Mod(m) => {
                    let name = m.ident.to_string();
                    match &m.content {
                        Some((_, inner)) => {
                            let child = self.new_module(file, Some(id), Some(&name));
                            let inner_dir = match path_attr(&m.attrs) {
                                Some(p) => dir.join(p),
                                None => dir.join(&name),
                            };
                            self.load_items(child, inner, file, &inner_dir);
                        }
                        None => {
                            let (child_file, child_dir) = match path_attr(&m.attrs) {
                                Some(p) => {
                                    let f = dir_of_decl(file, dir).join(p);
                                    let d = if f.file_name().is_some_and(|n| n == "mod.rs") {
                                        f.parent().unwrap_or(Path::new(".")).to_path_buf()
                                    } else {
                                        f.with_extension("")
                                    };
                                    (f, d)
                                }
                                None => {
                                    let flat = dir.join(format!("{name}.rs"));
                                    if flat.is_file() {
                                        (flat, dir.join(&name))
                                    } else {
                                        (dir.join(&name).join("mod.rs"), dir.join(&name))
                                    }
                                }
                            };
                            self.load_file(&child_file, Some(id), Some(&name), &child_dir);
                        }
                    }
                }
                other => {
                    if let Some(n) = item_name(other) {
                        self.modules[id].defined.insert(n);
                    }
                    collector.visit_item(other);
                }
            }
        }
        self.modules[id].paths.extend(collector.paths);
    }

    /// The module a path's first segment starts from, and the rest.
    fn start<'p>(&self, from: usize, path: &'p [String]) -> Option<(usize, &'p [String])> {
        let first = path.first()?;
        match first.as_str() {
            "crate" => Some((0, &path[1..])),
            "self" => Some((from, &path[1..])),
            "super" => {
                let mut m = from;
                let mut rest = path;
                while rest.first().is_some_and(|s| s == "super") {
                    m = self.modules[m].parent?;
                    rest = &rest[1..];
                }
                Some((m, rest))
            }
            _ => self.modules[from]
                .children
                .get(first)
                .map(|&c| (c, &path[1..])),
        }
    }

    /// The file that defines what `path` names, seen from module `from`.
    fn resolve(&self, from: usize, path: &[String], depth: usize) -> Option<PathBuf> {
        if depth > 24 {
            return None;
        }
        if let Some((mut m, mut rest)) = self.start(from, path) {
            while let Some(seg) = rest.first() {
                match self.modules[m].children.get(seg) {
                    Some(&c) => {
                        m = c;
                        rest = &rest[1..];
                    }
                    None => break,
                }
            }
            return match rest.first() {
                None => Some(self.modules[m].file.clone()),
                Some(name) => Some(
                    self.find(m, name, depth)
                        .unwrap_or_else(|| self.modules[m].file.clone()),
                ),
            };
        }
        // A name another `use` of this module (or an ancestor's, for
        // inline modules) brought in.
        let first = path.first()?;
        let import = self.modules[from]
            .imports
            .iter()
            .find(|i| i.name.as_deref() == Some(first))?;
        let mut full = import.path.clone();
        full.extend_from_slice(&path[1..]);
        if full.first() == path.first() && full.len() == path.len() {
            return None;
        }
        self.resolve(from, &full, depth + 1)
    }

    /// The file defining `name` as module `m` sees it: defined there,
    /// imported there (followed), or reachable through one of its globs.
    fn find(&self, m: usize, name: &str, depth: usize) -> Option<PathBuf> {
        if depth > 24 {
            return None;
        }
        let module = &self.modules[m];
        if module.defined.contains(name) {
            return Some(module.file.clone());
        }
        if let Some(i) = module
            .imports
            .iter()
            .find(|i| i.name.as_deref() == Some(name))
        {
            return self.resolve(m, &i.path, depth + 1);
        }
        for glob in module.imports.iter().filter(|i| i.name.is_none()) {
            if let Some((g, rest)) = self.start(m, &glob.path) {
                let mut target = Some(g);
                for seg in rest {
                    target = target.and_then(|t| self.modules[t].children.get(seg).copied());
                }
                if let Some(t) = target.filter(|&t| t != m) {
                    let child = self.modules[t].children.get(name);
                    if let Some(&c) = child {
                        return Some(self.modules[c].file.clone());
                    }
                    if let Some(f) = self.find(t, name, depth + 1) {
                        if f != self.modules[t].file || self.modules[t].defined.contains(name) {
                            return Some(f);
                        }
                    }
                }
            }
        }
        None
    }

    /// True if `path` names a module (not an item in one): naming a module
    /// imports nothing of its file by itself; what is used through it is.
    fn names_module(&self, from: usize, path: &[String], depth: usize) -> bool {
        if depth > 24 {
            return false;
        }
        if let Some((mut m, rest)) = self.start(from, path) {
            for seg in rest {
                match self.modules[m].children.get(seg) {
                    Some(&c) => m = c,
                    None => return false,
                }
            }
            return true;
        }
        let Some(first) = path.first() else {
            return false;
        };
        match self.modules[from]
            .imports
            .iter()
            .find(|i| i.name.as_deref() == Some(first))
        {
            Some(i) if i.path.first() != Some(first) || i.path.len() > 1 => {
                let mut full = i.path.clone();
                full.extend_from_slice(&path[1..]);
                self.names_module(from, &full, depth + 1)
            }
            _ => false,
        }
    }

    /// Every file-level import edge, with the path that made it.
    fn edges(&self, out: &mut BTreeMap<(PathBuf, PathBuf), String>) {
        for (id, m) in self.modules.iter().enumerate() {
            // A glob takes whatever it finds: it imports the module's file.
            let named = m
                .imports
                .iter()
                .map(|i| (&i.path, "use ", i.name.is_none()))
                .chain(m.paths.iter().map(|p| (p, "", false)));
            for (path, how, glob) in named {
                if !glob && self.names_module(id, path, 0) {
                    continue;
                }
                if let Some(target) = self.resolve(id, path, 0) {
                    if target != m.file {
                        out.entry((m.file.clone(), target))
                            .or_insert_with(|| format!("{how}{}", path.join("::")));
                    }
                }
            }
        }
    }
}

/// Where a `#[path]` on an out-of-line `mod` in `file` is relative to.
fn dir_of_decl(file: &Path, _dir: &Path) -> PathBuf {
    file.parent().unwrap_or(Path::new(".")).to_path_buf()
}

/// Strongly connected components with more than one file (Tarjan).
fn cycles(edges: &BTreeMap<(PathBuf, PathBuf), String>) -> Vec<Vec<PathBuf>> {
    let mut nodes: BTreeSet<&PathBuf> = BTreeSet::new();
    let mut adj: BTreeMap<&PathBuf, Vec<&PathBuf>> = BTreeMap::new();
    for (a, b) in edges.keys() {
        nodes.insert(a);
        nodes.insert(b);
        adj.entry(a).or_default().push(b);
    }
    struct S<'a> {
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        on: BTreeSet<&'a PathBuf>,
        stack: Vec<&'a PathBuf>,
        next: usize,
        out: Vec<Vec<PathBuf>>,
    }
    fn strong<'a>(v: &'a PathBuf, adj: &BTreeMap<&'a PathBuf, Vec<&'a PathBuf>>, s: &mut S<'a>) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on.insert(v);
        for &w in adj.get(v).map(Vec::as_slice).unwrap_or(&[]) {
            if !s.index.contains_key(w) {
                strong(w, adj, s);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = S {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        on: BTreeSet::new(),
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in nodes {
        if !s.index.contains_key(v) {
            strong(v, &adj, &mut s);
        }
    }
    s.out.sort();
    s.out
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// Every `.rs` file of the repository outside build output.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        let skip = [".git", "target", ".cache", "corpus", "artifacts"];
        if p.is_dir() {
            if !skip.iter().any(|s| name == *s) {
                sources(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_import_loops_and_no_long_files() {
    let root = repo();
    let mut problems = Vec::new();

    let mut edges = BTreeMap::new();
    for dir in members(&root) {
        for target in targets(&dir) {
            let tree = Tree::build(&target);
            problems.extend(tree.errors.iter().cloned());
            tree.edges(&mut edges);
        }
    }
    assert!(
        edges.len() > 100,
        "the import graph is implausibly small ({} edges): the checker is broken",
        edges.len()
    );
    for comp in cycles(&edges) {
        let members: BTreeSet<&PathBuf> = comp.iter().collect();
        let mut text = format!(
            "import loop through {} files: {}",
            comp.len(),
            comp.iter()
                .map(|f| rel(&root, f))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for ((a, b), how) in &edges {
            if members.contains(a) && members.contains(b) {
                text.push_str(&format!(
                    "\n    {} -> {} ({how})",
                    rel(&root, a),
                    rel(&root, b)
                ));
            }
        }
        problems.push(text);
    }

    let mut files = Vec::new();
    sources(&root, &mut files);
    files.sort();
    for f in files {
        let lines = fs::read_to_string(&f).map_or(0, |s| s.lines().count());
        if lines > MAX_LINES {
            problems.push(format!(
                "{} has {lines} lines (at most {MAX_LINES}: split it)",
                rel(&root, &f)
            ));
        }
    }

    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn the_checker_sees_a_loop_and_follows_re_exports() {
    let dir = std::env::temp_dir().join(format!("cxlvmm-import-graph-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("m")).unwrap();
    let write = |p: &str, s: &str| fs::write(dir.join(p), s).unwrap();
    // lib.rs re-exports from a and b; a uses b's item through the
    // re-export, b uses a's: one loop, a <-> b, and lib.rs outside it.
    write(
        "lib.rs",
        "mod a;\nmod b;\nmod m;\nmod n;\npub use a::A;\npub use b::*;\n",
    );
    write("a.rs", "use crate::B;\npub struct A;\n");
    write("b.rs", "pub struct B(crate::a::A);\n");
    // m/mod.rs re-exports its child; the child uses a constant of m
    // defined in mod.rs itself: m/mod.rs <-> m/c.rs.
    write("m/mod.rs", "mod c;\npub use c::C;\nconst K: u8 = 1;\n");
    write(
        "m/c.rs",
        "pub struct C;\nfn f() -> u8 { super::K }\n#[cfg(test)]\nmod tests { use super::*; }\n",
    );
    // Naming a module imports nothing by itself; an item through it does.
    write(
        "n.rs",
        "use crate::m;\nuse crate::m as alias;\nfn g() -> u8 { 1 }\nconst D: u8 = format!(\"{}\", crate::m::c::C);\n",
    );
    let tree = Tree::build(&dir.join("lib.rs"));
    assert!(tree.errors.is_empty(), "{:?}", tree.errors);
    let mut edges = BTreeMap::new();
    tree.edges(&mut edges);
    let found = cycles(&edges);
    let names: Vec<Vec<String>> = found
        .iter()
        .map(|c| c.iter().map(|f| rel(&dir, f)).collect())
        .collect();
    assert_eq!(
        names,
        vec![vec!["a.rs", "b.rs"], vec!["m/c.rs", "m/mod.rs"]],
        "{edges:#?}"
    );
    // lib.rs imports a and b (its re-exports); nothing imports lib.rs.
    assert!(edges.keys().all(|(_, b)| !b.ends_with("lib.rs")));
    let from_n: Vec<String> = edges
        .keys()
        .filter(|(a, _)| a.ends_with("n.rs"))
        .map(|(_, b)| rel(&dir, b))
        .collect();
    assert_eq!(from_n, vec!["m/c.rs"], "{edges:#?}");
    fs::remove_dir_all(&dir).unwrap();
}
