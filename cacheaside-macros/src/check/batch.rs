//! `batch`: a function that takes a collection of ids and returns a map by id. Checks the options
//! and the signature, and finds the ids (see `emit::batch` for what is generated).

use quote::ToTokens;
use syn::{GenericArgument, Ident, PathArguments, ReturnType, Type};

use crate::check::plan::{BatchPlan, KeyPlan, ReturnKind};
use crate::errors::Errors;
use crate::parse::cache_aside::Options;
use crate::parse::item::Inputs;
use crate::parse::values::Kind;

/// Options that mean nothing, or something else, for a batch function; each is reported at the
/// option, with what to do instead.
pub fn check_options(options: &Options, errors: &mut Errors) {
    if let Some(key) = &options.key {
        errors.at(
            &key.expr,
            "`key = …` cannot be combined with `batch`: each id is the key of its own entry (as `key = id` on a single-id reader); remove `key = …`",
        );
    }
    let conflicts = [
        (
            options.none_ttl.as_ref().map(|option| &option.name),
            "an id the body does not return is simply not cached; remove `none_ttl`",
        ),
        (
            options.refresh_ahead.as_ref().map(|option| &option.name),
            "a batch call does not refresh single entries in the background; remove `refresh_ahead`",
        ),
        (
            options.stale_if_error.as_ref().map(|option| &option.name),
            "a batch call does not serve expired entries when the body fails; remove `stale_if_error`",
        ),
        (
            options.soft_timeout.as_ref().map(|option| &option.name),
            "a batch call waits for its body, and does not serve expired entries; remove `soft_timeout`",
        ),
        (
            options.touch_on_read.as_ref().map(|option| &option.name),
            "a batch call does not touch the entries it reads; remove `touch_on_read`",
        ),
        (
            options.ttl_from.as_ref().map(|option| &option.name),
            "the entries of a batch function live for its `ttl`; remove `ttl_from`",
        ),
        (
            options.local.as_ref().map(|option| &option.name),
            "the in-process tier serves single-id functions only; remove `local(…)`",
        ),
        (
            options.lease.as_ref().map(|option| &option.name),
            "a batch call loads its missing ids itself; remove `lease`, or put it on a single-id reader of the same entries (`key = id`)",
        ),
    ];
    for (name, why) in conflicts {
        if let Some(name) = name {
            errors.at(
                name,
                format!("`{name}` cannot be combined with `batch`: {why}"),
            );
        }
    }
    if let Some(companions) = options.companions.as_ref().filter(|value| !value.value) {
        errors.at(
            companions,
            "`batch` keeps the body in a hidden function next to the wrapper, so it cannot be combined with `companions = false`; remove it (in a trait impl, put `#[cache_aside]` on the `impl` block instead)",
        );
    }
}

/// Finds the ids: the one argument that is neither skipped nor ignored.
pub fn plan(
    flag: &Ident,
    inputs: &Inputs,
    key: &KeyPlan,
    skipped: &[Ident],
    errors: &mut Errors,
) -> Option<BatchPlan> {
    for param in inputs.params.iter().filter(|param| param.cfg().is_some()) {
        errors.at(
            &param.pat,
            "a `batch` function cannot have `#[cfg]`-gated arguments; move the `#[cfg]` to the whole function",
        );
    }
    let KeyPlan::Default { args } = key else {
        // `key = …` is reported by `check_options`.
        return None;
    };
    let name_of = |index: usize| {
        (inputs.params[index].name.as_ref())
            .map_or_else(|| "it".to_owned(), |name| format!("`{name}`"))
    };
    let ids = match args.as_slice() {
        [] => {
            let hint = if skipped.is_empty() {
                ""
            } else {
                " (it must not be in `skip(…)`)"
            };
            errors.at(
                flag,
                format!("`batch` needs an argument with the ids, e.g. `ids: &[u64]`{hint}"),
            );
            return None;
        }
        [ids] => *ids,
        several => {
            let collections: Vec<usize> = (several.iter().copied())
                .filter(|&index| is_collection(&inputs.params[index].ty))
                .collect();
            let [ids] = collections.as_slice() else {
                let names: Vec<String> = several.iter().map(|&index| name_of(index)).collect();
                errors.at(
                    flag,
                    format!(
                        "a `batch` function takes one argument that is not skipped, the collection of ids, but {} are not skipped; add all but the ids to `skip(…)`",
                        names.join(", ")
                    ),
                );
                return None;
            };
            for &index in several.iter().filter(|&index| index != ids) {
                errors.at(
                    &inputs.params[index].pat,
                    format!(
                        "add {} to `skip(…)`: the only argument of a `batch` function that is not skipped is the collection of ids",
                        name_of(index)
                    ),
                );
            }
            return None;
        }
    };
    let param = &inputs.params[ids];
    let by_ref = match &param.ty {
        Type::Reference(reference) if reference.mutability.is_none() => true,
        Type::Reference(reference) => {
            errors.at(
                reference,
                "a `batch` function reads its ids, so take them by `&`, not `&mut`",
            );
            return None;
        }
        Type::Array(array) => {
            errors.at(
                array,
                "a `batch` function calls its body with only the missing ids, which an array of fixed length cannot hold; take a slice (`&[Id]`) or a `Vec<Id>`",
            );
            return None;
        }
        Type::ImplTrait(_) => {
            errors.at(
                &param.ty,
                "a `batch` function calls its body with the missing ids in the argument's own type, which `impl Trait` cannot name; take `&[Id]`, `Vec<Id>`, `HashSet<Id>` or `BTreeSet<Id>`",
            );
            return None;
        }
        _ => false,
    };
    Some(BatchPlan { ids, by_ref })
}

/// A map keyed by references (`HashMap<&str, V>`): the whole return type must be readable back
/// from the cache, which a borrowed key is not. Found from the return type's syntax; behind an
/// alias, the compiler reports the missing `DeserializeOwned` instead.
pub fn check_return(output: &ReturnType, return_kind: Option<&ReturnKind>, errors: &mut Errors) {
    let (ReturnType::Type(_, ty), Some(return_kind)) = (output, return_kind) else {
        return;
    };
    let map = match return_kind.kind {
        Kind::Plain => Some(&**ty),
        Kind::Result | Kind::Option => first_type_argument(ty),
    };
    if let Some(Type::Reference(key)) = map.and_then(first_type_argument) {
        let owned = match &*key.elem {
            Type::Path(path) if path.path.is_ident("str") => "`String`".to_owned(),
            elem => format!("`{}`", elem.to_token_stream()).replace(" ", ""),
        };
        errors.at(
            key,
            format!(
                "the map of a `batch` function owns its keys, since entries read from the cache are returned in it: key it by {owned} (e.g. `HashMap<String, V>` for `&[&str]` ids)"
            ),
        );
    }
}

/// The first type argument of a path type's last segment: `T` of `Result<T, E>`, `K` of
/// `HashMap<K, V>`.
fn first_type_argument(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else {
        return None;
    };
    let PathArguments::AngleBracketed(arguments) = &path.path.segments.last()?.arguments else {
        return None;
    };
    arguments.args.iter().find_map(|argument| match argument {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}

/// Whether a type is written as one of the collections of ids (`&[T]`, `Vec<T>`, `HashSet<T>`,
/// `BTreeSet<T>`, behind `&` or not); only used to tell which argument is meant as the ids.
fn is_collection(ty: &Type) -> bool {
    match ty {
        Type::Reference(reference) => is_collection(&reference.elem),
        Type::Slice(_) => true,
        Type::Path(path) => (path.path.segments.last()).is_some_and(|last| {
            ["Vec", "HashSet", "BTreeSet"]
                .iter()
                .any(|name| last.ident == name)
        }),
        _ => false,
    }
}
