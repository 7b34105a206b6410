//! `batch`: a function that takes a collection of ids and returns a map by id.
//!
//! The wrapper reads every id's entry in one batch (`__private::batch_lookup`), calls the body
//! once with the missing ids only (in the argument's own collection type, rebuilt by the
//! runtime), and hands its result back to the runtime to write back and merge with the hits.
//! Each id is its own entry, keyed by the id as `key = id` would key it.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, ToTokens};
use syn::ReturnType;

use crate::check::plan::{BatchPlan, Context, Flavor, Plan};
use crate::emit::kind::check_traits;
use crate::emit::loader::loader_call;
use crate::emit::signature::{attrs_named, prune_generics, wrapper_sig};
use crate::emit::spec::spec_value;
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
