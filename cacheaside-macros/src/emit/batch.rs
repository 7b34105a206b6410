//! `batch`: a function that takes a collection of ids and returns a map by id.
//!
//! The wrapper reads every id's entry in one batch (`__private::batch_lookup`), calls the body
//! once with the missing ids only (in the argument's own collection type, rebuilt by the
//! runtime), and hands its result back to the runtime to write back and merge with the hits.
//! Each id is its own entry, keyed by the id as `key = id` would key it.

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

use crate::check::plan::{BatchPlan, Flavor, Plan};
use crate::emit::kind::check_traits;
use crate::emit::loader::{loader_call, loader_fn};
use crate::emit::names::Names;
use crate::emit::signature::{
    companion_fn, companion_ident, invalidate_sig, renamed_sig, wrapper_fn,
};
use crate::emit::spec::spec_static_item;
use crate::emit::Expansion;

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
    let shared = Shared::new(plan, batch);
    let companions = [
        uncached(&shared),
        invalidate(&shared),
        loader_fn(plan, &shared.names.loader),
    ];
    Expansion {
        function: wrapper(&shared),
        companions: quote!(#(#companions)*),
    }
}

/// What the wrapper and its companions share.
struct Shared<'a> {
    plan: &'a Plan,
    batch: &'a BatchPlan,
    names: Names,
    /// The ids, checked: `let checked_ids = …;`.
    checked_ids: Ident,
    spec_binding: TokenStream,
    ids_check: TokenStream,
    /// The call of the hidden loader with every argument, awaited.
    load: TokenStream,
}

impl<'a> Shared<'a> {
    fn new(plan: &'a Plan, batch: &'a BatchPlan) -> Self {
        let krate = &plan.krate;
        let names = Names::new(plan);
        let spec_static = &names.spec_static;
        let checked_ids = local("__cacheaside_ids");
        let spec_binding = spec_static_item(krate, spec_static, &plan.spec);
        let ids = &plan.inputs.params[batch.ids];
        let binding = &ids.binding;
        let ids_ref = if batch.by_ref {
            quote!(#binding)
        } else {
            quote!(&#binding)
        };
        // Spanned on the argument: a collection or id type that does not fit is reported there,
        // once.
        let ids_span = syn::spanned::Spanned::span(&ids.pat);
        let batch_ids = Ident::new("batch_ids", ids_span);
        let ids_check = quote! {
            #[allow(unused_imports)]
            use #krate::__private::{BatchIdsCheck as _, BatchReturnCheck as _};
            let #checked_ids = #krate::__private::IdsArg(#ids_ref).#batch_ids();
        };
        let present = vec![true; plan.inputs.params.len()];
        let load = plan.flavor.wait(loader_call(plan, &names.loader, &present));
        Shared {
            plan,
            batch,
            names,
            checked_ids,
            spec_binding,
            ids_check,
            load,
        }
    }
}

/// Reads every id in one batch, loads the missing ones with one call of the body, and hands the
/// result to the runtime to store and merge with the hits.
fn wrapper(shared: &Shared) -> TokenStream {
    let (plan, batch, names) = (shared.plan, shared.batch, &shared.names);
    let (spec_binding, ids_check) = (&shared.spec_binding, &shared.ids_check);
    let (checked_ids, load) = (&shared.checked_ids, &shared.load);
    let krate = &plan.krate;
    let flavor = plan.flavor;
    let Names {
        spec_static,
        kind,
        returned,
        ..
    } = names;
    let lookup = local("__cacheaside_batch");
    let missing = local("__cacheaside_missing");
    let call = local("__cacheaside_call");
    let uses = check_traits(krate);
    let return_type = &plan.return_kind.ty;
    let checked = plan.return_kind.checked_marker(krate);
    let alias_probe = plan.return_kind.alias_probe(krate);
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
    let binding = &plan.inputs.params[batch.ids].binding;
    let rebuilt = quote!(#krate::__private::rebuild_ids(&#call, #missing));
    // Shadows the argument, so that the loader call below passes the missing ids.
    let rebind = if batch.by_ref {
        quote!(let #binding = &#rebuilt;)
    } else {
        quote!(let #binding = #rebuilt;)
    };
    let lookup_fn = flavor.runtime_fn("batch_lookup");
    let lookup_call = flavor.wait(quote!(
        #krate::__private::#lookup_fn(&#spec_static, &#call)
    ));
    let store = match flavor {
        Flavor::Async => quote!(#krate::__private::BatchLookup::store(#lookup, #returned).await),
        Flavor::Sync => quote!(#krate::__private::BatchLookup::store_blocking(#lookup, #returned)),
    };
    let body = quote! {
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
    };
    wrapper_fn(plan, body)
}

/// `<fn>_uncached`: the body with all the ids.
fn uncached(shared: &Shared) -> TokenStream {
    let plan = shared.plan;
    let name = &plan.spec.function;
    let doc = format!(
        "Runs `{name}`'s body with all the ids, without reading or writing the cache, and returns its result."
    );
    let sig = renamed_sig(plan, &companion_ident(plan, "uncached"));
    companion_fn(plan, &doc, quote!(dead_code), &sig, shared.load.clone())
}

/// `<fn>_invalidate`: takes the ids alone.
fn invalidate(shared: &Shared) -> TokenStream {
    let (plan, batch) = (shared.plan, shared.batch);
    let krate = &plan.krate;
    let spec_static = &shared.names.spec_static;
    let (spec_binding, ids_check) = (&shared.spec_binding, &shared.ids_check);
    let checked_ids = &shared.checked_ids;
    let name = &plan.spec.function;
    let doc = format!(
        "Removes the cache entry of every one of these ids (the entries `{name}` and single-id readers of the same set share). Unlike `{name}`, it reports cache errors: the first one, after trying every id."
    );
    let sig = invalidate_sig(plan, &[batch.ids], &TokenStream::new());
    let invalidate = plan.flavor.runtime_fn("invalidate_batch");
    let call = plan.flavor.wait(quote!(
        #krate::__private::#invalidate(&#spec_static, &#checked_ids)
    ));
    let body = quote! {
        #spec_binding
        #ids_check
        #call
    };
    companion_fn(plan, &doc, quote!(dead_code), &sig, body)
}
