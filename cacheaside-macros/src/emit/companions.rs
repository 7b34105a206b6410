//! The wrapper with its companions: `<fn>_invalidate`, `<fn>_refresh`, `<fn>_uncached`,
//! `<fn>_peek`, the hidden loader with the body, and the hidden items they share.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ReturnType;

use crate::check::plan::{Flavor, Plan};
use crate::emit::key::{key_expr, key_probe, key_uses, path_function, variants, Variant};
use crate::emit::kind::{check_traits, kind_marker, kind_type};
use crate::emit::loader::{hidden, loader_call, loader_fn};
use crate::emit::local::{local_lookup, local_store, through_local};
use crate::emit::names::Names;
use crate::emit::signature::{
    companion_fn, companion_ident, copied_attrs, invalidate_sig, prune_generics, renamed_sig,
    wrapper_fn, wrapper_sig,
};
use crate::emit::spec::{get_or_load_name, local_tier_value, policy_static_item, spec_static_item};
use crate::emit::Expansion;

/// The wrapper, and each companion in its own step.
pub fn with_companions(plan: &Plan) -> Expansion {
    let shared = Shared::new(plan);
    let companions = [
        invalidate(&shared),
        refresh(&shared),
        uncached(&shared),
        peek(&shared),
        loader_fn(plan, &shared.names.loader),
        local_tier(&shared),
        path_function(plan, &shared.names),
    ];
    Expansion {
        function: wrapper(&shared),
        companions: quote!(#(#companions)*),
    }
}

/// The statements the wrapper and its companions share.
struct Shared<'a> {
    plan: &'a Plan,
    names: Names,
    /// Brings the fallback traits of the compile-time checks into scope.
    uses: TokenStream,
    /// Each generated function has its own copy of the spec: the runtime compares specs by value.
    spec_binding: TokenStream,
    policy_binding: TokenStream,
    variants: Vec<Variant>,
    /// `let key = …; let load = …;` for each variant of the `#[cfg]`-gated arguments.
    keys_and_loads: Vec<TokenStream>,
    keys_only: Vec<TokenStream>,
    loads_only: Vec<TokenStream>,
    /// The kind marker, checked against the declared return type.
    checked_kind: TokenStream,
    /// The call that returns the local tier of `local(…)`.
    local_ref: TokenStream,
}

impl<'a> Shared<'a> {
    fn new(plan: &'a Plan) -> Self {
        let names = Names::new(plan);
        let Names {
            spec_static,
            spec,
            policy_static,
            policy,
            key,
            load,
            ..
        } = &names;
        let krate = &plan.krate;
        let spec_item = spec_static_item(krate, spec_static, &plan.spec);
        let policy_item = policy_static_item(plan, policy_static);
        let spec_binding = quote! {
            #spec_item
            let #spec = &#spec_static;
        };
        let policy_binding = quote! {
            #policy_item
            let #policy = &#policy_static;
        };
        let variants = variants(plan);
        let key_of = |variant: &Variant| {
            let cfg = &variant.cfg;
            let key_expr = key_expr(plan, &names, &variant.present);
            quote!(#cfg let #key = #key_expr;)
        };
        let load_of = |variant: &Variant| {
            let cfg = &variant.cfg;
            let call = loader_call(plan, &names.loader, &variant.present);
            let lazy = plan.flavor.lazy_call(call);
            quote!(#cfg let #load = #lazy;)
        };
        let keys_and_loads = (variants.iter())
            .map(|variant| {
                let (key, load) = (key_of(variant), load_of(variant));
                quote!(#key #load)
            })
            .collect();
        let keys_only = variants.iter().map(key_of).collect();
        let loads_only = variants.iter().map(load_of).collect();
        let local_ref = {
            let path = hidden(plan, &names.local_tier);
            quote!(#path())
        };
        Shared {
            plan,
            uses: check_traits(krate),
            spec_binding,
            policy_binding,
            variants,
            keys_and_loads,
            keys_only,
            loads_only,
            checked_kind: kind_marker(plan),
            local_ref,
            names,
        }
    }

    /// A runtime call that takes the spec, the policy, the key, the kind and the lazy body; not
    /// yet awaited.
    fn run(&self, name: &str) -> TokenStream {
        let krate = &self.plan.krate;
        let Names {
            spec,
            policy,
            key,
            kind,
            load,
            ..
        } = &self.names;
        let name = self.plan.flavor.runtime_fn(name);
        quote!(#krate::__private::#name(#spec, #policy, #key, #kind, #load))
    }
}

/// The annotated function, rewritten: gets its value from the cache, or loads and stores it.
fn wrapper(shared: &Shared) -> TokenStream {
    let Shared {
        plan,
        uses,
        spec_binding,
        policy_binding,
        ..
    } = shared;
    let body = if plan.policy.local.is_some() {
        wrapper_body_with_local_tier(shared)
    } else {
        wrapper_body(shared)
    };
    let body = quote! {
        #uses
        #spec_binding
        #policy_binding
        #body
    };
    wrapper_fn(plan, body)
}

fn wrapper_body(shared: &Shared) -> TokenStream {
    let Shared {
        plan,
        names,
        keys_and_loads,
        checked_kind,
        local_ref,
        ..
    } = shared;
    let kind = &names.kind;
    let alias_probe = plan.return_kind.alias_probe(&plan.krate);
    let get_or_load = shared.run(get_or_load_name(plan));
    let call = through_local(plan, names, local_ref, get_or_load, false);
    quote! {
        #(#keys_and_loads)*
        let #kind = #checked_kind;
        #alias_probe
        #call
    }
}

/// With a local tier, the key is looked up there before it is built (and before the loader
/// takes the arguments): a local hit formats no default key.
fn wrapper_body_with_local_tier(shared: &Shared) -> TokenStream {
    let Shared {
        plan,
        names,
        variants,
        loads_only,
        checked_kind,
        local_ref,
        ..
    } = shared;
    let krate = &plan.krate;
    let Names {
        spec, key, kind, ..
    } = names;
    let alias_probe = plan.return_kind.alias_probe(krate);
    let probes = variants
        .iter()
        .map(|variant| key_probe(plan, names, variant));
    let local_hit = local_lookup(plan, names, local_ref, &quote!(#spec));
    let get_or_load = shared.run(get_or_load_name(plan));
    let local_miss = local_store(plan, names, &quote!(#spec), get_or_load);
    quote! {
        #(#probes)*
        let #kind = #checked_kind;
        #alias_probe
        #local_hit
        let #key = #krate::__private::LocalProbe::into_key(#key);
        #(#loads_only)*
        #local_miss
    }
}

/// `<fn>_invalidate`: takes only the key arguments, and the generic parameters they need.
fn invalidate(shared: &Shared) -> TokenStream {
    let plan = shared.plan;
    let krate = &plan.krate;
    let Names { spec, key, .. } = &shared.names;
    let name = &plan.spec.function;
    let doc = format!(
        "Removes the cache entry that `{name}` stores for these key arguments. Unlike `{name}`, it reports cache errors."
    );
    let sig = invalidate_sig(plan, plan.key.arguments(), &key_uses(plan));
    let local_ref = &shared.local_ref;
    let local_removal = match plan.policy.local {
        Some(_) => quote!(#krate::__private::local_remove(#local_ref, &#key);),
        None => TokenStream::new(),
    };
    let invalidate = plan.flavor.runtime_fn("invalidate");
    let call = plan
        .flavor
        .wait(quote!(#krate::__private::#invalidate(#spec, #key)));
    let (uses, spec_binding, keys) = (&shared.uses, &shared.spec_binding, &shared.keys_only);
    let body = quote! {
        #uses
        #spec_binding
        #(#keys)*
        #local_removal
        #call
    };
    companion_fn(plan, &doc, quote!(dead_code, unused_variables), &sig, body)
}

/// `<fn>_refresh`: loads without reading the cache, and stores the result.
fn refresh(shared: &Shared) -> TokenStream {
    let plan = shared.plan;
    let name = &plan.spec.function;
    let doc = format!(
        "Runs `{name}` without reading the cache, stores its result like `{name}` would, and returns it."
    );
    let sig = renamed_sig(plan, &companion_ident(plan, "refresh"));
    let run = shared.run("refresh_with");
    let call = through_local(plan, &shared.names, &shared.local_ref, run, true);
    let (uses, spec_binding, policy_binding) =
        (&shared.uses, &shared.spec_binding, &shared.policy_binding);
    let (keys_and_loads, kind, checked_kind) = (
        &shared.keys_and_loads,
        &shared.names.kind,
        &shared.checked_kind,
    );
    let body = quote! {
        #uses
        #spec_binding
        #policy_binding
        #(#keys_and_loads)*
        let #kind = #checked_kind;
        #call
    };
    companion_fn(plan, &doc, quote!(dead_code), &sig, body)
}

/// `<fn>_uncached`: the body alone.
fn uncached(shared: &Shared) -> TokenStream {
    let plan = shared.plan;
    let name = &plan.spec.function;
    let doc = format!(
        "Runs `{name}`'s body without reading or writing the cache, and returns its result."
    );
    let sig = renamed_sig(plan, &companion_ident(plan, "uncached"));
    let load = &shared.names.load;
    let call = match plan.flavor {
        Flavor::Async => quote!(#load.await),
        Flavor::Sync => quote!(#load()),
    };
    let loads = &shared.loads_only;
    let body = quote! {
        #(#loads)*
        #call
    };
    companion_fn(plan, &doc, quote!(dead_code), &sig, body)
}

/// `<fn>_peek`: the cached part of the value, if any; never runs the body.
fn peek(shared: &Shared) -> TokenStream {
    let plan = shared.plan;
    let krate = &plan.krate;
    let Names {
        spec, key, kind, ..
    } = &shared.names;
    let name = &plan.spec.function;
    let doc = format!(
        "The value `{name}` has cached for these key arguments, or `None` when there is none or the cache cannot answer. Never runs the body."
    );
    let kind_type = kind_type(plan);
    let return_type = &plan.return_kind.ty;
    // Spanned on the return type: a return type that does not match its kind is reported there.
    let output: ReturnType = syn::parse_quote_spanned!(plan.return_kind.span=>
        -> ::core::option::Option<
            <#kind_type as #krate::__private::CachedPart<#return_type>>::Part
        >
    );
    let mut sig = wrapper_sig(
        plan,
        &companion_ident(plan, "peek"),
        plan.key.arguments(),
        output,
    );
    let mut used_by_peek = sig.inputs.clone();
    let output = &sig.output;
    used_by_peek.push(syn::parse_quote!(__cacheaside_output: fn() #output));
    sig.generics = prune_generics(&plan.function.sig.generics, &used_by_peek, &key_uses(plan));
    let peek = plan.flavor.runtime_fn("peek");
    let call = plan.flavor.wait(quote!(
        #krate::__private::#peek::<#return_type, _>(#spec, #key, #kind)
    ));
    let (uses, spec_binding, keys) = (&shared.uses, &shared.spec_binding, &shared.keys_only);
    let checked_kind = &shared.checked_kind;
    let body = quote! {
        #uses
        #spec_binding
        #(#keys)*
        let #kind = #checked_kind;
        #call
    };
    companion_fn(plan, &doc, quote!(dead_code, unused_variables), &sig, body)
}

/// The hidden function that holds the local tier of `local(…)`; nothing without one.
fn local_tier(shared: &Shared) -> TokenStream {
    let plan = shared.plan;
    if plan.policy.local.is_none() {
        return TokenStream::new();
    }
    let krate = &plan.krate;
    let tier = local_tier_value(plan);
    let Names {
        local_tier,
        local_static,
        ..
    } = &shared.names;
    let attrs = copied_attrs(plan);
    quote! {
        #[doc(hidden)]
        #attrs
        fn #local_tier() -> &'static #krate::__private::LocalTier {
            static #local_static: #krate::__private::LocalTier = #tier;
            &#local_static
        }
    }
}
