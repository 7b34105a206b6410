//! The runtime's static values a plan describes (`CacheSpec`, `CachePolicy`, `Ttl` and
//! `LocalTier`), and the entry point its policy picks.

use proc_macro2::{Ident, TokenStream};
use quote::{quote, quote_spanned};

use crate::check::plan::{Plan, Spec};
use crate::parse::cache_aside::Local;
use crate::parse::ttl::TtlValue;
use crate::parse::values::{CodecName, CodecOption};

/// `static <name>: CacheSpec = CacheSpec { cache, namespace, set, ttl, function };`
pub fn spec_static_item(krate: &syn::Path, name: &Ident, spec: &Spec) -> TokenStream {
    let value = spec_value(krate, spec);
    quote!(static #name: #krate::__private::CacheSpec = #value;)
}

/// `CacheSpec { cache, namespace, set, ttl, function }`.
fn spec_value(krate: &syn::Path, spec: &Spec) -> TokenStream {
    let cache = optional_str(spec.cache.as_ref());
    let namespace = optional_str(spec.namespace.as_ref());
    let set = &spec.set;
    let ttl = ttl_value(krate, spec.ttl);
    let function = &spec.function;
    let codec = codec_value(krate, spec.codec);
    quote! {
        #krate::__private::CacheSpec { cache: #cache, namespace: #namespace, set: #set, ttl: #ttl, function: #function, codec: #codec }
    }
}

/// The runtime's `Codec` of `codec = "…"`. A codec behind a feature is named through a macro of
/// the runtime that is a `compile_error!` naming the feature when it is off, spanned on the
/// option's value.
fn codec_value(krate: &syn::Path, codec: Option<CodecOption>) -> TokenStream {
    use quote::ToTokens;

    let Some(codec) = codec else {
        return quote!(#krate::__private::Codec::MessagePack);
    };
    let span = codec.span;
    // The whole path carries the option's span, so that the error of a codec whose feature is
    // off points at the option rather than at the attribute.
    let krate: TokenStream = (krate.to_token_stream().into_iter())
        .map(|mut token| {
            token.set_span(span);
            token
        })
        .collect();
    match codec.codec {
        CodecName::MessagePack => quote_spanned!(span=> #krate::__private::Codec::MessagePack),
        CodecName::Bincode => quote_spanned!(span=> #krate::__private::codec_bincode!()),
        CodecName::Postcard => quote_spanned!(span=> #krate::__private::codec_postcard!()),
        CodecName::Json => quote_spanned!(span=> #krate::__private::codec_json!()),
    }
}

/// `Some("…")` or `None`, for an optional name of a `CacheSpec`.
fn optional_str(value: Option<&syn::LitStr>) -> TokenStream {
    match value {
        Some(value) => quote!(::core::option::Option::Some(#value)),
        None => quote!(::core::option::Option::None),
    }
}

fn ttl_value(krate: &syn::Path, ttl: TtlValue) -> TokenStream {
    match ttl {
        TtlValue::Seconds(seconds) => quote!(#krate::__private::Ttl::Seconds(#seconds)),
        TtlValue::NamespaceDefault => quote!(#krate::__private::Ttl::NamespaceDefault),
        TtlValue::Never => quote!(#krate::__private::Ttl::Never),
    }
}

/// `static <name>: CachePolicy = CachePolicy { … };`
pub fn policy_static_item(plan: &Plan, name: &Ident) -> TokenStream {
    let krate = &plan.krate;
    let value = policy_value(plan);
    quote!(static #name: #krate::__private::CachePolicy = #value;)
}

/// `CachePolicy { none_ttl, refresh_ahead_permille, stale_if_error_secs, soft_timeout_ms,
/// touch_permille }`.
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
    let soft_timeout = plan.policy.soft_timeout_ms;
    let touch = plan.policy.touch_permille;
    let lease = plan.policy.lease_ms;
    quote! {
        #krate::__private::CachePolicy {
            none_ttl: #none_ttl,
            refresh_ahead_permille: #permille,
            stale_if_error_secs: #stale,
            soft_timeout_ms: #soft_timeout,
            touch_permille: #touch,
            lease_ms: #lease,
        }
    }
}

/// `LocalTier::new(ttl, capacity)` of `local(…)`.
pub fn local_tier_value(plan: &Plan) -> TokenStream {
    let krate = &plan.krate;
    let local = plan.policy.local.unwrap_or(Local {
        ttl_secs: 0,
        capacity: 0,
    });
    let ttl = u64::from(local.ttl_secs);
    let capacity = local.capacity;
    quote!(#krate::__private::LocalTier::new(#ttl, #capacity))
}

/// The runtime's get-or-load entry point for this function's policy (before the flavor suffix):
/// the one whose body may go to the background runtime for `refresh_ahead` and `soft_timeout`.
pub fn get_or_load_name(plan: &Plan) -> &'static str {
    if plan.policy.refresh_ahead_permille > 0 || plan.policy.soft_timeout_ms > 0 {
        "get_or_load_refreshing"
    } else {
        "get_or_load_with"
    }
}
