//! Which top-level modules of a crate import which, and the cycles among them.
//!
//! `cargo run -p xtask -- layers` reads every `.rs` file of the runtime and macro crates, finds the
//! `crate::<module>` paths in their code (comments and doc comments are skipped: a doc link is not
//! an import), groups them by the top-level module each file belongs to, and prints the import
//! graph and every cycle (strongly connected component) in it. A layered crate has none.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crates whose layout is checked.
pub const CRATES: [&str; 2] = ["cacheaside-runtime", "cacheaside-macros"];

/// The import graph of one crate: each top-level module and the top-level modules it imports.
pub type Graph = BTreeMap<String, BTreeSet<String>>;

/// Prints the graph and the cycles of each crate; an error names the crates with cycles.
pub fn report(root: &Path) -> Result<(), String> {
    let mut cyclic = Vec::new();
    for krate in CRATES {
        let graph = graph(&root.join(krate).join("src"))?;
        println!("{krate}: {} top-level modules", graph.len());
        for (module, imports) in &graph {
            let list: Vec<&str> = imports.iter().map(String::as_str).collect();
            println!("  {module} -> {}", list.join(", "));
        }
        let cycles = cycles(&graph);
        for cycle in &cycles {
            println!("  CYCLE: {}", cycle.join(" <-> "));
        }
        if cycles.is_empty() {
            println!("  no cycles");
        } else {
            cyclic.push(format!("{krate} ({} cycles)", cycles.len()));
        }
    }
    if cyclic.is_empty() {
        Ok(())
    } else {
        Err(format!("import cycles in {}", cyclic.join(", ")))
    }
}

/// The import graph of the crate whose sources are in `src`.
pub fn graph(src: &Path) -> Result<Graph, String> {
    let mut graph = Graph::new();
    for file in rust_files(src)? {
        let relative = file.strip_prefix(src).unwrap_or(&file);
        let module = top_level_module(relative);
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let imports = graph.entry(module.clone()).or_default();
        for imported in crate_paths(&text) {
            if imported != module {
                imports.insert(imported);
            }
        }
    }
    // Only modules of the crate count (not `crate::Error`-style items of `lib.rs`).
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for imports in graph.values_mut() {
        imports.retain(|m| modules.contains(m));
    }
    Ok(graph)
}

/// `lib` for `lib.rs`, `engine` for `engine.rs` and everything under `engine/`.
fn top_level_module(relative: &Path) -> String {
    let first = relative
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    first.strip_suffix(".rs").unwrap_or(&first).to_owned()
}

fn rust_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The first segment after every `crate::` in the code of `text`, including each branch of a
/// `use crate::{a, b::c}` group.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let preceded_by_ident = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
        rest = &rest[at + "crate::".len()..];
        if preceded_by_ident {
            continue;
        }
        let trimmed = rest.trim_start();
        if let Some(group) = trimmed.strip_prefix('{') {
            found.extend(group_heads(group));
        } else if let Some(ident) = identifier(trimmed) {
            found.insert(ident.to_owned());
        }
    }
    found
}

/// The first identifier of each item of a `{…}` group (the text after its `{`).
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0usize;
    let mut expecting_head = true;
    let mut chars = group.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => expecting_head = true,
            c if expecting_head && depth == 0 && (c.is_alphabetic() || c == '_') => {
                if let Some(ident) = identifier(&group[at..]) {
                    heads.push(ident.to_owned());
                    for _ in 1..ident.chars().count() {
                        chars.next();
                    }
                }
                expecting_head = false;
            }
            _ => {}
        }
    }
    heads
}

fn identifier(text: &str) -> Option<&str> {
    let end = text
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map_or(text.len(), |(at, _)| at);
    (end > 0).then(|| &text[..end])
}

/// The strongly connected components with more than one module (Tarjan's algorithm), each
/// sorted, in a stable order.
pub fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        components: Vec<Vec<String>>,
    }
    fn visit<'g>(state: &mut State<'g>, module: &'g str) {
        let next = state.index.len();
        state.index.insert(module, next);
        state.low.insert(module, next);
        state.stack.push(module);
        state.on_stack.insert(module);
        let graph = state.graph;
        for imported in graph.get(module).into_iter().flatten() {
            let imported = imported.as_str();
            if !state.index.contains_key(imported) {
                visit(state, imported);
                let low = state.low[module].min(state.low[imported]);
                state.low.insert(module, low);
            } else if state.on_stack.contains(imported) {
                let low = state.low[module].min(state.index[imported]);
                state.low.insert(module, low);
            }
        }
        if state.low[module] == state.index[module] {
            let mut component = Vec::new();
            while let Some(member) = state.stack.pop() {
                state.on_stack.remove(member);
                component.push(member.to_owned());
                if member == module {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                state.components.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for module in graph.keys() {
        if !state.index.contains_key(module.as_str()) {
            visit(&mut state, module);
        }
    }
    state.components.sort();
    state.components
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_are_found_in_code_and_groups_not_in_comments() {
        let text = "use crate::a::X;\nuse crate::{b, c::{D, E}, d::F};\n\
                    // crate::commented\n/// [`x`](crate::doc)\nfn f() { crate::e::g(); }\n\
                    use other_crate::h;";
        let found: Vec<String> = crate_paths(text).into_iter().collect();
        assert_eq!(found, ["a", "b", "c", "d", "e"]);
    }

    /// The runtime stays layered: no cycles, and only `lib` reaches the generated-code interface.
    #[test]
    fn the_runtime_has_no_import_cycles() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let graph = graph(&root.join("cacheaside-runtime").join("src")).unwrap();
        assert_eq!(cycles(&graph), Vec::<Vec<String>>::new());
        let importers: Vec<&String> = (graph.iter())
            .filter(|(_, imports)| imports.contains("__private"))
            .map(|(module, _)| module)
            .collect();
        assert!(importers.is_empty(), "{importers:?} import __private");
    }

    #[test]
    fn the_macros_have_no_import_cycles() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let graph = graph(&root.join("cacheaside-macros").join("src")).unwrap();
        assert_eq!(cycles(&graph), Vec::<Vec<String>>::new());
    }

    #[test]
    fn cycles_are_the_strongly_connected_components() {
        let graph: Graph = [
            ("a", vec!["b"]),
            ("b", vec!["c"]),
            ("c", vec!["a", "d"]),
            ("d", vec![]),
            ("e", vec!["f"]),
            ("f", vec!["e"]),
        ]
        .into_iter()
        .map(|(m, imports)| {
            (
                m.to_owned(),
                imports.into_iter().map(str::to_owned).collect(),
            )
        })
        .collect();
        assert_eq!(cycles(&graph), [vec!["a", "b", "c"], vec!["e", "f"]]);
    }
}
