//! Emits the wrapper, its companions and the hidden items they share.
//!
//! The expansion stays thin: each generated function builds the key and hands the original body,
//! as a lazy future or closure, to one function of `__private`. All caching logic lives in the runtime.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, ToTokens};
use syn::punctuated::Punctuated;
use syn::{Attribute, FnArg, GenericParam, Generics, ReturnType, Signature, Token};

use crate::parse::item::mentions;
use crate::parse::ttl::TtlValue;
use crate::parse::values::Kind;
use crate::valid::{Context, KeyPlan, Plan};

/// The expansion split in two, so that an annotated trait `impl` block can move the companions
/// into an inherent `impl` block of the same type.
pub struct Expansion {
    /// The annotated function, rewritten.
    pub function: TokenStream,
    /// `<fn>_invalidate`, `<fn>_refresh` and the hidden loader they share with the function.
    pub companions: TokenStream,
}

/// The wrapper and, unless `companions = false`, `<fn>_invalidate`, `<fn>_refresh` and the
/// original body as a hidden loader function.
pub fn expand_parts(plan: &Plan) -> Expansion {
    if let Some(batch) = &plan.batch {
        return crate::batch::expand(plan, batch);
    }
    if plan.companions {
        with_companions(plan)
    } else {
        Expansion {
            function: body_inline(plan),
            companions: TokenStream::new(),
        }
    }
}

/// Names of the hidden items and locals. All are mixed-site so they never meet the user's names:
/// an argument may be called `key`, `spec` or even `__cacheaside_load_get`.
struct Names {
    loader: Ident,
    /// The hidden function the default key's path is read from (`KeyPath`); the runtime finds
    /// the function's name after its `__cacheaside_path_` prefix (`key.rs`, `PATH_FUNCTION`).
    path: Ident,
    spec_static: Ident,
    spec: Ident,
    policy_static: Ident,
    policy: Ident,
    local_tier: Ident,
    local_static: Ident,
    local: Ident,
    local_key: Ident,
    local_ops: Ident,
    key: Ident,
    key_args: Ident,
    kind: Ident,
    load: Ident,
    returned: Ident,
}

impl Names {
    fn new(plan: &Plan) -> Self {
        let name = &plan.spec.function;
        let local = |text: &str| Ident::new(text, Span::mixed_site());
        Names {
            loader: local(&format!("__cacheaside_load_{name}")),
            path: local(&format!("__cacheaside_path_{name}")),
            spec_static: local("__CACHEASIDE_SPEC"),
            spec: local("__cacheaside_spec"),
            policy_static: local("__CACHEASIDE_POLICY"),
            policy: local("__cacheaside_policy"),
            local_tier: local(&format!("__cacheaside_local_{name}")),
            local_static: local("__CACHEASIDE_LOCAL"),
            local: local("__cacheaside_local"),
            local_key: local("__cacheaside_local_key"),
            local_ops: local("__cacheaside_local_ops"),
            key: local("__cacheaside_key"),
            key_args: local("__cacheaside_key_args"),
            kind: local("__cacheaside_kind"),
            load: local("__cacheaside_load"),
            returned: local("__cacheaside_returned"),
        }
    }
}

/// One combination of `#[cfg]`-gated arguments: the `#[cfg(…)]` under which it is the one
/// compiled (empty when no argument is gated), and which arguments are present.
struct Variant {
    cfg: TokenStream,
    present: Vec<bool>,
}

/// Every combination of the gated arguments. A call cannot gate its arguments with `#[cfg]`, so
/// each combination gets its own `let` statements of key and loader call.
fn variants(plan: &Plan) -> Vec<Variant> {
    let gated: Vec<(usize, TokenStream)> = (plan.inputs.params.iter().enumerate())
        .filter_map(|(index, param)| param.cfg().map(|cfg| (index, cfg)))
        .collect();
    let count = plan.inputs.params.len();
    if gated.is_empty() {
        return vec![Variant {
            cfg: TokenStream::new(),
            present: vec![true; count],
        }];
    }
    (0..1u32 << gated.len())
        .map(|mask| {
            let mut present = vec![true; count];
            let mut conditions = Vec::new();
            for (bit, (index, predicate)) in gated.iter().enumerate() {
                if mask & (1 << bit) == 0 {
                    present[*index] = false;
                    conditions.push(quote!(not(#predicate)));
                } else {
                    conditions.push(predicate.clone());
                }
            }
            Variant {
                cfg: quote!(#[cfg(all(#(#conditions),*))]),
                present,
            }
        })
        .collect()
}

/// Brings the fallback traits of the compile-time checks into scope (see `private_support`).
pub(crate) fn check_traits(krate: &syn::Path) -> TokenStream {
    quote! {
        #[allow(unused_imports)]
        use #krate::__private::{
            AliasedKindCheck as _, CachedReturnFallback as _, KeyPartFallback as _,
            KindProbeFallback as _,
        };
    }
}

/// A path to one of the hidden items generated next to the function.
fn hidden(plan: &Plan, ident: &Ident) -> TokenStream {
    if plan.inputs.receiver.is_some() || matches!(plan.context, Context::InImpl { .. }) {
        quote!(Self::#ident)
    } else {
        quote!(#ident)
    }
}

fn with_companions(plan: &Plan) -> Expansion {
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
        crate::flavor::Flavor::Async => quote!(#load.await),
        crate::flavor::Flavor::Sync => quote!(#load()),
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

/// Without companions (a trait impl block cannot hold extra items) the body is rewritten in place.
fn body_inline(plan: &Plan) -> TokenStream {
    let names = Names::new(plan);
    let Names {
        spec_static,
        policy_static,
        key,
        kind,
        load,
        returned,
        ..
    } = &names;
    let krate = &plan.krate;
    let function = &plan.function;
    let all_args: Vec<usize> = (0..plan.inputs.params.len()).collect();
    let spec_value = spec_value(plan);
    let policy_value = policy_value(plan);
    let uses = check_traits(krate);
    let keys: Vec<TokenStream> = (variants(plan).iter())
        .map(|variant| {
            let cfg = &variant.cfg;
            let key_expr = key_expr(plan, &names, &variant.present);
            quote!(#cfg let #key = #key_expr;)
        })
        .collect();
    let checked_kind = kind_marker(plan);
    let alias_probe = plan.return_kind.alias_probe(krate);
    let params = plan.inputs.params.iter();
    let rebindings = params.filter(|param| param.needs_rebinding()).map(|param| {
        let pat = &param.pat;
        let binding = &param.binding;
        let cfg = param.cfg().map(|predicate| quote!(#[cfg(#predicate)]));
        quote!(#cfg let #pat = #binding;)
    });
    let return_type = &plan.return_kind.ty;
    let body = &function.body;
    let lazy = plan.flavor.lazy_block(quote! {{
        #(#rebindings)*
        // Typed so that `?` and `return` in the body see the declared return type.
        let #returned: #return_type = #body;
        #returned
    }});
    let get_or_load = plan.flavor.runtime_fn(get_or_load_name(plan));
    let get_or_load =
        quote!(#krate::__private::#get_or_load(&#spec_static, &#policy_static, #key, #kind, #load));
    let local_static = &names.local_static;
    let local_binding = match plan.policy.local {
        Some(_) => {
            let tier = local_tier_value(plan);
            quote!(static #local_static: #krate::__private::LocalTier = #tier;)
        }
        None => TokenStream::new(),
    };
    let spec_ref = quote!(&#spec_static);
    let get_or_load = through_local_with_spec(
        plan,
        &names,
        &quote!(&#local_static),
        &spec_ref,
        get_or_load,
        false,
    );
    let attrs = &function.attrs;
    let vis = &function.vis;
    let sig = wrapper_sig(
        plan,
        &function.sig.ident,
        &all_args,
        function.sig.output.clone(),
    );
    quote! {
        #(#attrs)*
        #vis #sig {
            #uses
            static #spec_static: #krate::__private::CacheSpec = #spec_value;
            static #policy_static: #krate::__private::CachePolicy = #policy_value;
            #local_binding
            #(#keys)*
            let #kind = #checked_kind;
            #alias_probe
            let #load = #lazy;
            #get_or_load
        }
    }
}

/// `LocalTier::new(ttl, capacity)` of `local(…)`.
fn local_tier_value(plan: &Plan) -> TokenStream {
    let krate = &plan.krate;
    let local = plan
        .policy
        .local
        .unwrap_or(crate::parse::cache_aside::Local {
            ttl_secs: 0,
            capacity: 0,
        });
    let ttl = u64::from(local.ttl_secs);
    let capacity = local.capacity;
    quote!(#krate::__private::LocalTier::new(#ttl, #capacity))
}

/// A runtime call (`call`, not yet awaited; it consumes the key and the kind) behind the local
/// tier of `local(…)`: a local hit returns at once (not for a refresh, which clears the entry
/// instead), and the returned value is kept locally. Just the awaited call without `local(…)`.
fn through_local(
    plan: &Plan,
    names: &Names,
    local_ref: &TokenStream,
    call: TokenStream,
    refresh: bool,
) -> TokenStream {
    let spec = &names.spec;
    through_local_with_spec(plan, names, local_ref, &quote!(#spec), call, refresh)
}

fn through_local_with_spec(
    plan: &Plan,
    names: &Names,
    local_ref: &TokenStream,
    spec: &TokenStream,
    call: TokenStream,
    refresh: bool,
) -> TokenStream {
    if plan.policy.local.is_none() {
        return plan.flavor.wait(call);
    }
    let krate = &plan.krate;
    let call = boxed_call(plan, call);
    let Names {
        key,
        returned,
        local,
        local_key,
        ..
    } = names;
    if refresh {
        // Cleared before (the source changed) and after (a call meanwhile may have kept the old
        // value); the next call takes the new value from Aerospike. No `Clone` needed here.
        return quote! {
            let #local = #local_ref;
            #krate::__private::local_remove(#local, &#key);
            let #local_key = #key.clone();
            let #returned = #call;
            #krate::__private::local_remove(#local, &#local_key);
            #returned
        };
    }
    let lookup = local_lookup(plan, names, local_ref, spec);
    let store = local_miss(plan, names, spec, call);
    quote!(#lookup #store)
}

/// The local tier's lookup of `local(…)`: returns a local hit at once. `key` may be a built key
/// or the parts of a default key.
fn local_lookup(
    plan: &Plan,
    names: &Names,
    local_ref: &TokenStream,
    spec: &TokenStream,
) -> TokenStream {
    let krate = &plan.krate;
    let Names {
        key,
        kind,
        returned,
        local,
        local_ops: ops,
        ..
    } = names;
    // The one check that the value can be kept and cloned, spanned on the return type.
    let return_type = &plan.return_kind.ty;
    let local_ops = Ident::new("local_ops", plan.return_kind.span);
    quote! {
        let #local = #local_ref;
        let #ops = #krate::__private::LocalCheck::<#return_type, _>::new(#kind).#local_ops();
        if let ::core::option::Option::Some(#returned) =
            #krate::__private::local_get(#ops, #local, #spec, &#key, #kind)
        {
            return #returned;
        }
    }
}

/// After a local miss (`key` built): the runtime call, whose returned value is kept locally.
fn local_miss(plan: &Plan, names: &Names, spec: &TokenStream, call: TokenStream) -> TokenStream {
    let krate = &plan.krate;
    let Names {
        key,
        kind,
        returned,
        local,
        local_key,
        local_ops: ops,
        ..
    } = names;
    quote! {
        let #local_key = #krate::__private::local_key(&#key);
        let #returned = #call;
        #krate::__private::local_store(#ops, #local, #spec, #local_key, #kind, &#returned);
        #returned
    }
}

/// [`local_miss`] with the call boxed (see [`boxed_call`]).
fn local_store(plan: &Plan, names: &Names, spec: &TokenStream, call: TokenStream) -> TokenStream {
    local_miss(plan, names, spec, boxed_call(plan, call))
}

/// The runtime call of a function with a local tier, awaited. Its future goes on the heap (on a
/// local miss only), since the hit path is short: the wrapper's own future stays small and cheap
/// to create and move.
fn boxed_call(plan: &Plan, call: TokenStream) -> TokenStream {
    let krate = &plan.krate;
    match plan.flavor {
        crate::flavor::Flavor::Async => quote!(#krate::__private::boxed(#call).await),
        crate::flavor::Flavor::Sync => call,
    }
}

/// The runtime's get-or-load entry point for this function's policy (before the flavor suffix).
fn get_or_load_name(plan: &Plan) -> &'static str {
    if plan.policy.refresh_ahead_permille > 0 {
        "get_or_load_refreshing"
    } else {
        "get_or_load_with"
    }
}

/// The runtime's kind marker, checked against the declared return type; `none_ttl` turns the
/// `Option` kind into the one that caches `None` too.
fn kind_marker(plan: &Plan) -> TokenStream {
    let checked = plan.return_kind.checked_marker(&plan.krate);
    let kind = match plan.policy.none_ttl {
        Some(_) => quote!(#checked.cache_none()),
        None => checked,
    };
    let krate = &plan.krate;
    let return_type = &plan.return_kind.ty;
    match &plan.policy.ttl_from {
        Some(path) => quote! {
            #krate::__private::TtlFromCheck::<#return_type, _>::new(#kind).ttl_from(#path)
        },
        None => kind,
    }
}

/// The runtime's kind marker type, to name the cached value's type in `<fn>_peek`.
fn kind_type(plan: &Plan) -> TokenStream {
    let krate = &plan.krate;
    match (plan.return_kind.kind, plan.policy.none_ttl) {
        (Kind::Result, _) => quote!(#krate::__private::ResultKind),
        (Kind::Option, Some(_)) => quote!(#krate::__private::NegativeOptionKind),
        (Kind::Option, None) => quote!(#krate::__private::OptionKind),
        (Kind::Plain, _) => quote!(#krate::__private::PlainKind),
    }
}

/// `CachePolicy { none_ttl, refresh_ahead_permille, stale_if_error_secs }`.
fn policy_value(plan: &Plan) -> TokenStream {
    let krate = &plan.krate;
    let none_ttl = match plan.policy.none_ttl {
        Some(ttl) => {
            let ttl = ttl_value(krate, ttl);
            quote!(::core::option::Option::Some(#ttl))
        }
        None => quote!(::core::option::Option::None),
    };
    let permille = plan.policy.refresh_ahead_permille;
    let stale = plan.policy.stale_if_error_secs;
    let touch = plan.policy.touch_permille;
    quote! {
        #krate::__private::CachePolicy {
            none_ttl: #none_ttl,
            refresh_ahead_permille: #permille,
            stale_if_error_secs: #stale,
            touch_permille: #touch,
        }
    }
}

fn ttl_value(krate: &syn::Path, ttl: TtlValue) -> TokenStream {
    match ttl {
        TtlValue::Seconds(seconds) => quote!(#krate::__private::Ttl::Seconds(#seconds)),
        TtlValue::NamespaceDefault => quote!(#krate::__private::Ttl::NamespaceDefault),
        TtlValue::Never => quote!(#krate::__private::Ttl::Never),
    }
}

/// `CacheSpec { cache, namespace, set, ttl, function }`.
pub(crate) fn spec_value(plan: &Plan) -> TokenStream {
    let krate = &plan.krate;
    let cache = optional_str(plan.spec.cache.as_ref());
    let namespace = optional_str(plan.spec.namespace.as_ref());
    let set = &plan.spec.set;
    let ttl = ttl_value(krate, plan.spec.ttl);
    let function = &plan.spec.function;
    quote! {
        #krate::__private::CacheSpec { cache: #cache, namespace: #namespace, set: #set, ttl: #ttl, function: #function }
    }
}

/// `Some("…")` or `None`, for an optional name of a `CacheSpec`.
pub(crate) fn optional_str(value: Option<&syn::LitStr>) -> TokenStream {
    match value {
        Some(value) => quote!(::core::option::Option::Some(#value)),
        None => quote!(::core::option::Option::None),
    }
}

/// The key of a call. Each default-key argument goes through `key_arg`, spanned on the argument,
/// so an argument that cannot be serialized is reported there with a hint to `skip` it.
fn key_expr(plan: &Plan, names: &Names, present: &[bool]) -> TokenStream {
    let krate = &plan.krate;
    match &plan.key {
        KeyPlan::Explicit { expr, .. } => {
            let span = syn::spanned::Spanned::span(expr);
            quote::quote_spanned!(span=> #krate::__private::explicit_key(#expr))
        }
        KeyPlan::Default { args } => {
            let path = key_path(plan, names, args, present);
            let parts = default_key_parts(plan, args, present);
            quote!(#krate::__private::default_key_at(#path, &(#(#parts,)*)))
        }
    }
}

/// `let` statements that bind `key` to what a local tier looks up: the key of `key = <expr>`, or
/// the parts of the default key (its arguments in `key_args`), not yet built.
fn key_probe(plan: &Plan, names: &Names, variant: &Variant) -> TokenStream {
    let krate = &plan.krate;
    let Names { key, key_args, .. } = names;
    let cfg = &variant.cfg;
    match &plan.key {
        KeyPlan::Explicit { .. } => {
            let key_expr = key_expr(plan, names, &variant.present);
            quote!(#cfg let #key = #key_expr;)
        }
        KeyPlan::Default { args } => {
            let path = key_path(plan, names, args, &variant.present);
            let parts = default_key_parts(plan, args, &variant.present);
            quote! {
                #cfg let #key_args = (#(#parts,)*);
                #cfg let #key = #krate::__private::default_key_parts(#path, &#key_args);
            }
        }
    }
}

/// The default key's parts, one per present key argument. Each goes through `key_part`, spanned
/// on the argument, so an argument that cannot be serialized is reported there with a hint to
/// `skip` it.
fn default_key_parts(plan: &Plan, args: &[usize], present: &[bool]) -> Vec<TokenStream> {
    let krate = &plan.krate;
    (args.iter())
        .filter(|&&index| present[index])
        .map(|&index| {
            let param = &plan.inputs.params[index];
            let binding = &param.binding;
            let span = syn::spanned::Spanned::span(&param.pat);
            // Spanned on the argument: a key argument that is not serializable is reported
            // there, once (see `private_support`).
            let method = Ident::new("key_part", span);
            quote::quote_spanned!(span=> #krate::__private::KeyPart(&#binding).#method())
        })
        .collect()
}

/// The `KeyPath` of a call's default key: the full path of the function, with the type and const
/// arguments the key depends on, as the compiler names it (see the runtime's `KeyPath`).
///
/// With companions, every generated function (the wrapper, `<fn>_invalidate`, `<fn>_peek`, …)
/// asks the one hidden function of [`path_function`], so that they agree on the key, including
/// when `<fn>_invalidate` has fewer generic parameters than the wrapper. Without companions (a
/// trait impl), the wrapper reads the type name of a closure of its own: the path of the method
/// with every generic argument of the method and of its impl.
fn key_path(plan: &Plan, names: &Names, args: &[usize], present: &[bool]) -> TokenStream {
    let krate = &plan.krate;
    if !plan.companions {
        return quote! {
            #krate::__private::KeyPath::of_closure(::core::any::type_name_of_val(&|| ()))
        };
    }
    let function = hidden(plan, &names.path);
    let generics = path_generics(plan, args);
    let explicit: Vec<&Ident> = (generics.params.iter())
        .filter_map(|param| match param {
            GenericParam::Type(param) => Some(&param.ident),
            GenericParam::Const(param) => Some(&param.ident),
            GenericParam::Lifetime(_) => None,
        })
        .collect();
    let turbofish = if explicit.is_empty() {
        quote!()
    } else {
        quote!(::<#(#explicit),*>)
    };
    let impl_args = (impl_trait_key_args(plan, args).into_iter())
        .filter(|&index| present[index])
        .map(|index| &plan.inputs.params[index].binding);
    quote!(#function #turbofish(#(&#impl_args),*))
}

/// The key arguments whose type has an `impl Trait`: their concrete types are type arguments of
/// the key (the anonymous type parameters of the function).
fn impl_trait_key_args(plan: &Plan, args: &[usize]) -> Vec<usize> {
    let impl_token = Ident::new("impl", Span::call_site());
    (args.iter().copied())
        .filter(|&index| mentions(&plan.inputs.params[index].ty, &impl_token))
        .collect()
}

/// The names of the type and const parameters that the default key includes: every one except
/// those that only skipped arguments use (`db: &D` with `skip(db)`), which do not change the
/// value, and which `<fn>_invalidate` could not name, since it takes only the key arguments.
fn key_generic_params(plan: &Plan) -> Vec<Ident> {
    let KeyPlan::Default { args } = &plan.key else {
        return Vec::new();
    };
    let mut key_side = plan.function.sig.output.to_token_stream();
    let mut skipped_side = TokenStream::new();
    for (index, param) in plan.inputs.params.iter().enumerate() {
        if args.contains(&index) {
            param.ty.to_tokens(&mut key_side);
        } else {
            param.ty.to_tokens(&mut skipped_side);
        }
    }
    (plan.function.sig.generics.params.iter())
        .filter_map(|param| match param {
            GenericParam::Type(param) => Some(&param.ident),
            GenericParam::Const(param) => Some(&param.ident),
            GenericParam::Lifetime(_) => None,
        })
        .filter(|ident| mentions(&key_side, ident) || !mentions(&skipped_side, ident))
        .cloned()
        .collect()
}

/// What a companion's generic parameters must keep for its key: the identifiers of `key =
/// <expr>`, or the generic parameters of the default key.
fn key_uses(plan: &Plan) -> TokenStream {
    match &plan.key {
        KeyPlan::Explicit { expr, .. } => expr.to_token_stream(),
        KeyPlan::Default { .. } => {
            let params = key_generic_params(plan);
            quote!(#(#params)*)
        }
    }
}

/// The arguments of the hidden path function: a reference to each `impl Trait` key argument.
fn path_inputs(plan: &Plan, args: &[usize]) -> Punctuated<FnArg, Token![,]> {
    (impl_trait_key_args(plan, args).into_iter())
        .map(|index| {
            let param = &plan.inputs.params[index];
            let ty = &param.ty;
            let cfg = param.cfg().map(|predicate| quote!(#[cfg(#predicate)]));
            // In parentheses: `&impl A + B` would not parse.
            let input: FnArg = syn::parse_quote!(#cfg _: &(#ty));
            input
        })
        .collect()
}

/// The generic parameters of the hidden path function: those of the default key, and what their
/// bounds and the `impl Trait` arguments need.
fn path_generics(plan: &Plan, args: &[usize]) -> Generics {
    prune_generics(
        &plan.function.sig.generics,
        &path_inputs(plan, args),
        &key_uses(plan),
    )
}

/// The hidden function that gives the default key's `KeyPath`: the type name of a closure in it
/// is the function's path, followed by its generic arguments, which are those of the key (see
/// [`key_generic_params`]), the concrete types of `impl Trait` key arguments and those of the
/// `impl` it is in. Without any of them (a free function that is not generic) the path is
/// worked out once and kept in a `static`; a `static` inside a generic function would be shared
/// by all its instantiations, so a generic one reads the type name (a constant) on each call.
fn path_function(plan: &Plan, names: &Names) -> TokenStream {
    let KeyPlan::Default { args } = &plan.key else {
        return TokenStream::new();
    };
    let krate = &plan.krate;
    let ident = &names.path;
    let inputs = path_inputs(plan, args);
    let generics = path_generics(plan, args);
    let where_clause = &generics.where_clause;
    let in_impl = plan.inputs.receiver.is_some() || matches!(plan.context, Context::InImpl { .. });
    let generic = generics
        .params
        .iter()
        .any(|param| !matches!(param, GenericParam::Lifetime(_)));
    let body = if in_impl || generic || !inputs.is_empty() {
        quote!(#krate::__private::KeyPath::of_closure(::core::any::type_name_of_val(&|| ())))
    } else {
        let cell = Ident::new("__CACHEASIDE_PATH", Span::mixed_site());
        quote! {
            static #cell: #krate::__private::KeyPathCell = #krate::__private::KeyPathCell::new();
            #cell.get(|| ::core::any::type_name_of_val(&|| ()))
        }
    };
    let cfgs = attrs_named(&plan.function.attrs, &["cfg"]);
    let lints = attrs_named(
        &plan.function.attrs,
        &["allow", "warn", "deny", "forbid", "expect"],
    );
    quote! {
        #[doc(hidden)]
        #(#cfgs)*
        #(#lints)*
        #[inline]
        #[allow(unused_parens, clippy::extra_unused_type_parameters)]
        fn #ident #generics(#inputs) -> #krate::__private::KeyPath #where_clause {
            #body
        }
    }
}

/// Calls the hidden loader with the wrapper's arguments: the original body, as a future that the
/// runtime polls only when it needs to load.
pub(crate) fn loader_call(plan: &Plan, loader: &Ident, present: &[bool]) -> TokenStream {
    let bindings = (plan.inputs.params.iter().zip(present))
        .filter(|(_, present)| **present)
        .map(|(param, _)| &param.binding);
    let generics = &plan.function.sig.generics;
    let explicit: Vec<&Ident> = (generics.params.iter())
        .filter_map(|param| match param {
            GenericParam::Type(param) => Some(&param.ident),
            GenericParam::Const(param) => Some(&param.ident),
            GenericParam::Lifetime(_) => None,
        })
        .collect();
    let impl_trait_argument = (plan.inputs.params.iter())
        .any(|param| mentions(&param.ty, &Ident::new("impl", Span::call_site())));
    // Generic arguments cannot be named when an argument is `impl Trait`; inference covers it then.
    let turbofish = if explicit.is_empty() || impl_trait_argument {
        quote!()
    } else {
        quote!(::<#(#explicit),*>)
    };
    let path = hidden(plan, loader);
    match &plan.inputs.receiver {
        Some(receiver) => {
            let self_token = &receiver.self_token;
            quote!(#path #turbofish(#self_token, #(#bindings),*))
        }
        None => quote!(#path #turbofish(#(#bindings),*)),
    }
}

/// The original signature with another name and output, the receiver, and only the arguments in
/// `args`, each declared by its plain binding (patterns and `mut` stay in the loader).
pub(crate) fn wrapper_sig(
    plan: &Plan,
    ident: &Ident,
    args: &[usize],
    output: ReturnType,
) -> Signature {
    let mut sig = plan.function.sig.clone();
    sig.ident = ident.clone();
    sig.output = output;
    let mut inputs: Punctuated<FnArg, Token![,]> = Punctuated::new();
    if let Some(receiver) = &plan.inputs.receiver {
        inputs.push(FnArg::Receiver(receiver.clone()));
    }
    for &index in args {
        let declaration = plan.inputs.params[index].declaration();
        inputs.push(syn::parse_quote!(#declaration));
    }
    sig.inputs = inputs;
    sig
}

/// Keeps the generic parameters that the given inputs or the key (`key_uses`, see [`key_uses`])
/// use, directly or through bounds, so that callers of `<fn>_invalidate` never face a parameter
/// they cannot infer or name, and always one their key depends on.
pub(crate) fn prune_generics(
    generics: &Generics,
    inputs: &Punctuated<FnArg, Token![,]>,
    key_uses: &TokenStream,
) -> Generics {
    let mut used = inputs.to_token_stream();
    used.extend(key_uses.clone());
    let params: Vec<&GenericParam> = generics.params.iter().collect();
    let predicates: Vec<&syn::WherePredicate> = generics
        .where_clause
        .iter()
        .flat_map(|clause| &clause.predicates)
        .collect();
    let mut keep: Vec<bool> = params
        .iter()
        .map(|param| mentions(&used, param_ident(param)))
        .collect();
    loop {
        let mut sources = TokenStream::new();
        for (param, _) in params.iter().zip(&keep).filter(|(_, kept)| **kept) {
            param.to_tokens(&mut sources);
        }
        for predicate in &predicates {
            let touches_kept = params
                .iter()
                .zip(&keep)
                .any(|(param, kept)| *kept && mentions(predicate, param_ident(param)));
            if touches_kept {
                predicate.to_tokens(&mut sources);
            }
        }
        let mut changed = false;
        for (param, kept) in params.iter().zip(keep.iter_mut()) {
            if !*kept && mentions(&sources, param_ident(param)) {
                *kept = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut pruned = generics.clone();
    pruned.params = params
        .iter()
        .zip(&keep)
        .filter(|(_, kept)| **kept)
        .map(|(param, _)| (*param).clone())
        .collect();
    if let Some(clause) = &mut pruned.where_clause {
        clause.predicates = (predicates.iter())
            .filter(|predicate| {
                params
                    .iter()
                    .zip(&keep)
                    .all(|(param, kept)| *kept || !mentions(*predicate, param_ident(param)))
            })
            .map(|predicate| (*predicate).clone())
            .collect();
    }
    pruned
}

fn param_ident(param: &GenericParam) -> &Ident {
    match param {
        GenericParam::Type(param) => &param.ident,
        GenericParam::Lifetime(param) => &param.lifetime.ident,
        GenericParam::Const(param) => &param.ident,
    }
}

pub(crate) fn attrs_named<'a>(attrs: &'a [Attribute], names: &[&str]) -> Vec<&'a Attribute> {
    attrs
        .iter()
        .filter(|attr| names.iter().any(|name| attr.path().is_ident(name)))
        .collect()
}
