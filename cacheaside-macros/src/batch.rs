//! `batch`: a function that takes a collection of ids and returns a map by id.
//!
//! The wrapper reads every id's entry in one batch (`__private::batch_lookup`), calls the body
//! once with the missing ids only (in the argument's own collection type, rebuilt by the
//! runtime), and hands its result back to the runtime to write back and merge with the hits.
//! Each id is its own entry, keyed by the id as `key = id` would key it.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, ToTokens};
use syn::{GenericArgument, PathArguments, ReturnType, Type};

use crate::errors::Errors;
use crate::expand::{
    attrs_named, check_traits, loader_call, prune_generics, spec_value, wrapper_sig, Expansion,
};
use crate::flavor::Flavor;
use crate::parse::cache_aside::Options;
use crate::parse::item::Inputs;
use crate::parse::values::Kind;
use crate::return_kind::ReturnKind;
use crate::valid::{Context, KeyPlan, Plan};

/// Where the ids are.
pub struct BatchPlan {
    /// The index of the argument that holds the ids, in `Inputs::params`.
    pub ids: usize,
    /// Whether that argument is a reference (`&[u64]`), so the body gets a reference too.
    pub by_ref: bool,
}

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

/// Tokens located at `span`, keeping their name resolution (hygiene).
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let proc_macro2::TokenTree::Group(group) = &tree {
                let mut respanned =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(group.span().located_at(span));
                tree = respanned.into();
            } else {
                tree.set_span(tree.span().located_at(span));
            }
            tree
        })
        .collect()
}

/// Names of locals; mixed-site so that they never meet the user's names.
fn local(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// The wrapper, `<fn>_uncached`, `<fn>_invalidate` and the hidden loader.
pub fn expand(plan: &Plan, batch: &BatchPlan) -> Expansion {
    let krate = &plan.krate;
    let function = &plan.function;
    let flavor = plan.flavor;
    let spec_static = local("__CACHEASIDE_SPEC");
    let kind = local("__cacheaside_kind");
    let lookup = local("__cacheaside_batch");
    let missing = local("__cacheaside_missing");
    let checked_ids = local("__cacheaside_ids");
    let call = local("__cacheaside_call");
    let returned = local("__cacheaside_returned");
    let loader = local(&format!("__cacheaside_load_{}", plan.spec.function));

    let spec_value = spec_value(plan);
    let spec_binding = quote!(static #spec_static: #krate::__private::CacheSpec = #spec_value;);
    let uses = check_traits(krate);
    let return_type = &plan.return_kind.ty;
    let checked = plan.return_kind.checked_marker(krate);
    let alias_probe = plan.return_kind.alias_probe(krate);
    let ids = &plan.inputs.params[batch.ids];
    let binding = &ids.binding;
    let ids_ref = if batch.by_ref {
        quote!(#binding)
    } else {
        quote!(&#binding)
    };
    // Spanned on the argument: a collection or id type that does not fit is reported there, once.
    let ids_span = syn::spanned::Spanned::span(&ids.pat);
    let batch_ids = Ident::new("batch_ids", ids_span);
    let ids_check = quote! {
        #[allow(unused_imports)]
        use #krate::__private::{BatchIdsCheck as _, BatchReturnCheck as _};
        let #checked_ids = #krate::__private::IdsArg(#ids_ref).#batch_ids();
    };
    // Spanned on the return type: a return type without a map of storable values is reported
    // there, and so is a map keyed by another type than the ids.
    let return_span = plan.return_kind.span;
    let batch_kind_method = Ident::new("batch_kind", return_span);
    let batch_kind = quote! {
        #krate::__private::BatchReturnOf::<#return_type, _>::new(#checked).#batch_kind_method()
    };
    let join = Ident::new("join", return_span);
    // The whole check is located at the return type, where a mismatch of key and id is reported.
    let parts = respan(
        quote!(#krate::__private::BatchParts(#kind, &#checked_ids)),
        return_span,
    );
    let rebuilt = quote!(#krate::__private::rebuild_ids(&#call, #missing));
    // Shadows the argument, so that the loader call below passes the missing ids.
    let rebind = if batch.by_ref {
        quote!(let #binding = &#rebuilt;)
    } else {
        quote!(let #binding = #rebuilt;)
    };
    let present = vec![true; plan.inputs.params.len()];
    let load = flavor.wait(loader_call(plan, &loader, &present));
    let lookup_fn = flavor.runtime_fn("batch_lookup");
    let lookup_call = flavor.wait(quote!(
        #krate::__private::#lookup_fn(&#spec_static, &#call)
    ));
    let store = match flavor {
        Flavor::Async => quote!(#krate::__private::BatchLookup::store(#lookup, #returned).await),
        Flavor::Sync => quote!(#krate::__private::BatchLookup::store_blocking(#lookup, #returned)),
    };

    let attrs = &function.attrs;
    let vis = &function.vis;
    let all_args: Vec<usize> = (0..plan.inputs.params.len()).collect();
    let main_sig = wrapper_sig(
        plan,
        &function.sig.ident,
        &all_args,
        function.sig.output.clone(),
    );
    let main = quote! {
        #(#attrs)*
        #vis #main_sig {
            #uses
            #spec_binding
            #ids_check
            let #kind = #batch_kind;
            #alias_probe
            let #call = #parts.#join();
            let mut #lookup = #lookup_call;
            match #krate::__private::BatchLookup::to_load(&mut #lookup) {
                ::core::option::Option::None => #krate::__private::BatchLookup::complete(#lookup),
                ::core::option::Option::Some(#missing) => {
                    #rebind
                    let #returned = #load;
                    #store
                }
            }
        }
    };

    let cfgs = attrs_named(&function.attrs, &["cfg"]);
    let lints = attrs_named(
        &function.attrs,
        &["allow", "warn", "deny", "forbid", "expect"],
    );
    let companion_vis = match plan.context {
        Context::InImpl { of_trait: true, .. } => quote!(pub),
        _ => vis.to_token_stream(),
    };
    let name = &plan.spec.function;

    let mut loader_sig = function.sig.clone();
    loader_sig.ident = loader.clone();
    let body = &function.body;
    let loader_fn = quote! {
        #[doc(hidden)]
        #(#cfgs)*
        #(#lints)*
        #loader_sig #body
    };

    let uncached_doc = format!(
        "Runs `{name}`'s body with all the ids, without reading or writing the cache, and returns its result."
    );
    let uncached_ident = format_ident!("{}_uncached", function.sig.ident);
    let uncached_sig = wrapper_sig(
        plan,
        &uncached_ident,
        &all_args,
        function.sig.output.clone(),
    );
    let uncached = quote! {
        #(#cfgs)*
        #(#lints)*
        #[doc = #uncached_doc]
        #[allow(dead_code)]
        #companion_vis #uncached_sig {
            #load
        }
    };

    let invalidate_doc = format!(
        "Removes the cache entry of every one of these ids (the entries `{name}` and single-id readers of the same set share). Unlike `{name}`, it reports cache errors: the first one, after trying every id."
    );
    let invalidate_ident = format_ident!("{}_invalidate", function.sig.ident);
    let invalidate_output: ReturnType =
        syn::parse_quote!(-> ::core::result::Result<(), #krate::__private::Error>);
    let mut invalidate_sig = wrapper_sig(plan, &invalidate_ident, &[batch.ids], invalidate_output);
    invalidate_sig.generics = prune_generics(
        &function.sig.generics,
        &invalidate_sig.inputs,
        &TokenStream::new(),
    );
    let invalidate_fn = flavor.runtime_fn("invalidate_batch");
    let invalidate_call = flavor.wait(quote!(
        #krate::__private::#invalidate_fn(&#spec_static, &#checked_ids)
    ));
    let invalidate = quote! {
        #(#cfgs)*
        #(#lints)*
        #[doc = #invalidate_doc]
        #[allow(dead_code)]
        #companion_vis #invalidate_sig {
            #spec_binding
            #ids_check
            #invalidate_call
        }
    };

    Expansion {
        function: main,
        companions: quote!(#uncached #invalidate #loader_fn),
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    fn expand(args: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> String {
        crate::cache_aside_impl(args, item).to_string()
    }

    fn errors(args: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> Vec<String> {
        let output = expand(args, item);
        output
            .split("compile_error ! {")
            .skip(1)
            .map(|rest| {
                rest[..rest.find('}').unwrap_or(rest.len())]
                    .trim()
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn a_map_keyed_by_references_is_refused_at_its_key() {
        let item = quote!(
            async fn f<'a>(names: &[&'a str]) -> Result<HashMap<&'a str, u8>, E> {}
        );
        let found = errors(quote!(set = "s", batch), item);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("key it by `String`"), "{found:?}");
        let item = quote!(
            fn f(ids: &[u64]) -> BTreeMap<&'static u64, u8> {}
        );
        let found = errors(quote!(set = "s", batch), item);
        assert!(found[0].contains("key it by `u64`"), "{found:?}");
        let owned = quote!(
            async fn f(names: &[&str]) -> Option<HashMap<String, u8>> {}
        );
        assert!(errors(quote!(set = "s", batch), owned).is_empty());
    }

    #[test]
    fn the_wrapper_reads_in_one_batch_and_loads_the_missing_ids() {
        let output = expand(
            quote!(set = "users", ttl = 60, batch, skip(db)),
            quote!(
                async fn get_users(db: &Db, ids: &[u64]) -> Result<HashMap<u64, User>, E> {
                    db.load(ids)
                }
            ),
        );
        assert!(!output.contains("compile_error"), "{output}");
        for part in [
            "let __cacheaside_ids = :: cacheaside :: __private :: IdsArg (ids) . batch_ids () ;",
            "BatchParts (__cacheaside_kind , & __cacheaside_ids) . join ()",
            "batch_lookup (& __CACHEASIDE_SPEC , & __cacheaside_call) . await",
            "let ids = & :: cacheaside :: __private :: rebuild_ids (& __cacheaside_call , __cacheaside_missing)",
            "__cacheaside_load_get_users (db , ids) . await",
            "BatchLookup :: store (__cacheaside_batch , __cacheaside_returned) . await",
            "async fn get_users_uncached (db : & Db , ids : & [u64])",
            "async fn get_users_invalidate (ids : & [u64])",
            "invalidate_batch (& __CACHEASIDE_SPEC , & __cacheaside_ids) . await",
        ] {
            assert!(output.contains(part), "{part} in {output}");
        }
        for absent in ["get_users_refresh", "get_users_peek", "default_key"] {
            assert!(!output.contains(absent), "{absent} in {output}");
        }
    }

    #[test]
    fn owned_ids_are_borrowed_for_the_lookup_and_rebuilt_owned() {
        let output = expand(
            quote!(set = "users", batch),
            quote!(
                fn get_users(ids: Vec<u64>) -> HashMap<u64, User> {
                    load(ids)
                }
            ),
        );
        assert!(!output.contains("compile_error"), "{output}");
        for part in [
            "IdsArg (& ids) . batch_ids () ;",
            "batch_lookup_blocking (& __CACHEASIDE_SPEC , & __cacheaside_call)",
            "let ids = :: cacheaside :: __private :: rebuild_ids (& __cacheaside_call , __cacheaside_missing)",
            "store_blocking",
            "invalidate_batch_blocking",
        ] {
            assert!(output.contains(part), "{part} in {output}");
        }
        assert!(!output.contains(". await"), "{output}");
    }

    #[test]
    fn options_that_make_no_sense_with_batch_are_rejected() {
        let found = errors(
            quote!(
                set = "users",
                ttl = 60,
                batch,
                key = id,
                none_ttl = "5s",
                refresh_ahead = 0.2,
                stale_if_error = "1m",
                touch_on_read,
                local(ttl = "5s"),
                companions = false
            ),
            quote!(
                async fn get_users(ids: Vec<u64>) -> Option<HashMap<u64, User>> {
                    None
                }
            ),
        );
        // The eighth: `stale_if_error` needs a `Result` anyway.
        assert_eq!(found.len(), 8, "{found:#?}");
        assert!(found[0].contains("`key = …` cannot be combined with `batch`"));
        for (message, option) in found[1..6].iter().zip([
            "none_ttl",
            "refresh_ahead",
            "stale_if_error",
            "touch_on_read",
            "local",
        ]) {
            assert!(
                message.contains(&format!("`{option}` cannot be combined with `batch`")),
                "{message}"
            );
        }
        assert!(found[6].contains("`companions = false`"), "{}", found[6]);
    }

    #[test]
    fn the_ids_must_be_the_one_argument_not_skipped() {
        let found = errors(
            quote!(set = "users", batch),
            quote!(
                async fn get_users(db: &Db, ids: &[u64]) -> HashMap<u64, User> {
                    load()
                }
            ),
        );
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].contains("add `db` to `skip(…)`"), "{}", found[0]);
        let found = errors(
            quote!(set = "users", batch),
            quote!(
                async fn get_users(tenant: u32, region: u32) -> HashMap<u64, User> {
                    load()
                }
            ),
        );
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].contains("but `tenant`, `region` are not skipped"),
            "{}",
            found[0]
        );
        let found = errors(
            quote!(set = "users", batch, skip(ids)),
            quote!(
                async fn get_users(ids: &[u64]) -> HashMap<u64, User> {
                    load()
                }
            ),
        );
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].contains("needs an argument with the ids"),
            "{}",
            found[0]
        );
        assert!(found[0].contains("must not be in `skip"), "{}", found[0]);
        let found = errors(
            quote!(set = "users", batch),
            quote!(
                async fn get_users(ids: impl IntoIterator<Item = u64>) -> HashMap<u64, User> {
                    load()
                }
            ),
        );
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].contains("`impl Trait` cannot name"),
            "{}",
            found[0]
        );
    }
}
