//! The wrapper with its companions: `<fn>_invalidate`, `<fn>_refresh`, `<fn>_uncached`,
//! `<fn>_peek`, the hidden loader with the body, and the hidden items they share.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, ToTokens};
use syn::ReturnType;

use crate::check::plan::{Context, Flavor, Plan};
use crate::emit::key::{key_expr, key_probe, key_uses, path_function, variants};
use crate::emit::kind::{check_traits, kind_marker, kind_type};
use crate::emit::loader::{hidden, loader_call};
use crate::emit::local::{local_lookup, local_store, through_local};
use crate::emit::names::Names;
use crate::emit::signature::{attrs_named, prune_generics, wrapper_sig};
use crate::emit::spec::{get_or_load_name, local_tier_value, policy_value, spec_value};
use crate::emit::Expansion;

pub fn with_companions(plan: &Plan) -> Expansion {
    let names = Names::new(plan);
    let Names {
        spec_static,
        spec,
        policy_static,
        policy,
        key,
        kind,
        load,
        ..
    } = &names;
    let krate = &plan.krate;
    let function = &plan.function;
    let flavor = plan.flavor;
    let all_args: Vec<usize> = (0..plan.inputs.params.len()).collect();
    let spec_value = spec_value(plan);
    let policy_value = policy_value(plan);
    // Each generated function has its own copy of the spec: the runtime compares specs by value.
    let spec_binding = quote! {
        static #spec_static: #krate::__private::CacheSpec = #spec_value;
        let #spec = &#spec_static;
    };
    let policy_binding = quote! {
        static #policy_static: #krate::__private::CachePolicy = #policy_value;
        let #policy = &#policy_static;
    };
    let uses = check_traits(krate);
    let variants = variants(plan);
    let keys_and_loads: Vec<TokenStream> = (variants.iter())
        .map(|variant| {
            let cfg = &variant.cfg;
            let key_expr = key_expr(plan, &names, &variant.present);
            let lazy = flavor.lazy_call(loader_call(plan, &names.loader, &variant.present));
            quote! {
                #cfg let #key = #key_expr;
                #cfg let #load = #lazy;
            }
        })
        .collect();
    let keys_only: Vec<TokenStream> = (variants.iter())
        .map(|variant| {
            let cfg = &variant.cfg;
            let key_expr = key_expr(plan, &names, &variant.present);
            quote!(#cfg let #key = #key_expr;)
        })
        .collect();
    let loads_only: Vec<TokenStream> = (variants.iter())
        .map(|variant| {
            let cfg = &variant.cfg;
            let lazy = flavor.lazy_call(loader_call(plan, &names.loader, &variant.present));
            quote!(#cfg let #load = #lazy;)
        })
        .collect();
    let checked_kind = kind_marker(plan);
    let alias_probe = plan.return_kind.alias_probe(krate);
    let run = |name: &str| {
        let name = flavor.runtime_fn(name);
        quote!(#krate::__private::#name(#spec, #policy, #key, #kind, #load))
    };
    let get_or_load = run(get_or_load_name(plan));
    let refresh = run("refresh_with");
    let local_ref = {
        let path = hidden(plan, &names.local_tier);
        quote!(#path())
    };
    // With a local tier, the key is looked up there before it is built (and before the loader
    // takes the arguments): a local hit formats no default key.
    let main_body = if plan.policy.local.is_some() {
        let probes: Vec<TokenStream> = (variants.iter())
            .map(|variant| key_probe(plan, &names, variant))
            .collect();
        let local_hit = local_lookup(plan, &names, &local_ref, &quote!(#spec));
        let local_miss = local_store(plan, &names, &quote!(#spec), get_or_load);
        quote! {
            #(#probes)*
            let #kind = #checked_kind;
            #alias_probe
            #local_hit
            let #key = #krate::__private::LocalProbe::into_key(#key);
            #(#loads_only)*
            #local_miss
        }
    } else {
        let main_call = through_local(plan, &names, &local_ref, get_or_load, false);
        quote! {
            #(#keys_and_loads)*
            let #kind = #checked_kind;
            #alias_probe
            #main_call
        }
    };
    let refresh = through_local(plan, &names, &local_ref, refresh, true);
    let peek = flavor.runtime_fn("peek");
    let return_type = &plan.return_kind.ty;
    let peek_call = flavor.wait(quote!(
        #krate::__private::#peek::<#return_type, _>(#spec, #key, #kind)
    ));
    let uncached_call = match flavor {
        Flavor::Async => quote!(#load.await),
        Flavor::Sync => quote!(#load()),
    };
    let invalidate = flavor.runtime_fn("invalidate");
    let invalidate_call = flavor.wait(quote!(#krate::__private::#invalidate(#spec, #key)));
    let local_removal = match plan.policy.local {
        Some(_) => quote!(#krate::__private::local_remove(#local_ref, &#key);),
        None => TokenStream::new(),
    };
    let cfgs = attrs_named(&function.attrs, &["cfg"]);
    let lints = attrs_named(
        &function.attrs,
        &["allow", "warn", "deny", "forbid", "expect"],
    );

    let attrs = &function.attrs;
    let vis = &function.vis;
    let companion_vis = match plan.context {
        Context::InImpl { of_trait: true, .. } => quote!(pub),
        _ => vis.to_token_stream(),
    };
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
            #policy_binding
            #main_body
        }
    };

    let mut loader_sig = function.sig.clone();
    loader_sig.ident = names.loader.clone();
    let body = &function.body;
    let loader = quote! {
        #[doc(hidden)]
        #(#cfgs)*
        #(#lints)*
        #loader_sig #body
    };

    let name = &plan.spec.function;
    let invalidate_doc = format!(
        "Removes the cache entry that `{name}` stores for these key arguments. Unlike `{name}`, it reports cache errors."
    );
    let invalidate_output: ReturnType =
        syn::parse_quote!(-> ::core::result::Result<(), #krate::__private::Error>);
    let invalidate_ident = format_ident!("{}_invalidate", function.sig.ident);
    let mut invalidate_sig = wrapper_sig(
        plan,
        &invalidate_ident,
        plan.key.arguments(),
        invalidate_output,
    );
    invalidate_sig.generics = prune_generics(
        &function.sig.generics,
        &invalidate_sig.inputs,
        &key_uses(plan),
    );
    let invalidate = quote! {
        #(#cfgs)*
        #(#lints)*
        #[doc = #invalidate_doc]
        #[allow(dead_code, unused_variables)]
        #companion_vis #invalidate_sig {
            #uses
            #spec_binding
            #(#keys_only)*
            #local_removal
            #invalidate_call
        }
    };

    let refresh_doc =
        format!("Runs `{name}` without reading the cache, stores its result like `{name}` would, and returns it.");
    let refresh_ident = format_ident!("{}_refresh", function.sig.ident);
    let refresh_sig = wrapper_sig(plan, &refresh_ident, &all_args, function.sig.output.clone());
    let refresh = quote! {
        #(#cfgs)*
        #(#lints)*
        #[doc = #refresh_doc]
        #[allow(dead_code)]
        #companion_vis #refresh_sig {
            #uses
            #spec_binding
            #policy_binding
            #(#keys_and_loads)*
            let #kind = #checked_kind;
            #refresh
        }
    };

    let uncached_doc = format!(
        "Runs `{name}`'s body without reading or writing the cache, and returns its result."
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
            #(#loads_only)*
            #uncached_call
        }
    };

    let peek_doc = format!(
        "The value `{name}` has cached for these key arguments, or `None` when there is none or the cache cannot answer. Never runs the body."
    );
    let peek_ident = format_ident!("{}_peek", function.sig.ident);
    let kind_type = kind_type(plan);
    // Spanned on the return type: a return type that does not match its kind is reported there.
    let peek_output: ReturnType = syn::parse_quote_spanned!(plan.return_kind.span=>
        -> ::core::option::Option<
            <#kind_type as #krate::__private::CachedPart<#return_type>>::Part
        >
    );
    let mut peek_sig = wrapper_sig(plan, &peek_ident, plan.key.arguments(), peek_output);
    let mut used_by_peek = peek_sig.inputs.clone();
    let output = &peek_sig.output;
    used_by_peek.push(syn::parse_quote!(__cacheaside_output: fn() #output));
    peek_sig.generics = prune_generics(&function.sig.generics, &used_by_peek, &key_uses(plan));
    let peek = quote! {
        #(#cfgs)*
        #(#lints)*
        #[doc = #peek_doc]
        #[allow(dead_code, unused_variables)]
        #companion_vis #peek_sig {
            #uses
            #spec_binding
            #(#keys_only)*
            let #kind = #checked_kind;
            #peek_call
        }
    };

    let local_tier = match plan.policy.local {
        Some(_) => {
            let tier = local_tier_value(plan);
            let ident = &names.local_tier;
            let local_static = &names.local_static;
            quote! {
                #[doc(hidden)]
                #(#cfgs)*
                #(#lints)*
                fn #ident() -> &'static #krate::__private::LocalTier {
                    static #local_static: #krate::__private::LocalTier = #tier;
                    &#local_static
                }
            }
        }
        None => TokenStream::new(),
    };

    let path = path_function(plan, &names);

    Expansion {
        function: main,
        companions: quote!(#invalidate #refresh #uncached #peek #loader #local_tier #path),
    }
}
