//! Checks the options of `#[cache_aside]` against the function's signature and decides the plan.

use quote::ToTokens;
use syn::{Signature, Type};

use crate::check::batch;
use crate::check::plan::{Context, Flavor, KeyPlan, Plan, Policy, ReturnKind, Spec};
use crate::errors::Errors;
use crate::parse::cache_aside::{Options, Skip, Spanned};
use crate::parse::item::{split_inputs, CachedFn, Inputs};
use crate::parse::ttl::TtlValue;
use crate::parse::values::Kind;

/// Each `#[cfg]`-gated argument doubles the `let` statements the wrapper needs.
const MAX_GATED_ARGUMENTS: usize = 4;

/// Checks everything, records every problem, and returns the plan when there was none. The
/// steps run in this order so that errors are reported in the order of the attribute's docs.
pub fn check(
    function: CachedFn,
    options: Options,
    context: Context,
    errors: &mut Errors,
) -> Option<Plan> {
    let sig = &function.sig;
    let name = syn::ext::IdentExt::unraw(&sig.ident).to_string();
    let inputs = split_inputs(sig);
    check_signature(sig, &inputs, errors);
    if options.set.is_none() {
        errors.at_span(
            context.attribute_span(),
            "missing `set`: name the Aerospike set that holds this function's entries, e.g. `#[cache_aside(set = \"users\", ttl = 3600)]`",
        );
    }
    let skipped = check_key_options(&options, &inputs, &name, errors);
    if options.batch.is_some() {
        batch::check_options(&options, errors);
    }
    let key = key_plan(&options, &inputs, &skipped);
    let batch = (options.batch.as_ref())
        .and_then(|flag| batch::plan(flag, &inputs, &key, &skipped, errors));
    let return_kind = ReturnKind::decide(&sig.output, options.returns.as_ref(), errors);
    if options.batch.is_some() {
        batch::check_return(&sig.output, return_kind.as_ref(), errors);
    }
    let ttl = options.ttl.unwrap_or(TtlValue::NamespaceDefault);
    check_freshness(&options, ttl, return_kind.as_ref(), &inputs, &name, errors);
    Some(Plan {
        krate: (options.krate.clone()).unwrap_or_else(|| syn::parse_quote!(::cacheaside)),
        context,
        flavor: Flavor::of(sig),
        inputs,
        key,
        return_kind: return_kind?,
        companions: options.companions.as_ref().is_none_or(|value| value.value),
        batch,
        spec: Spec {
            cache: options.cache.clone(),
            namespace: options.namespace.clone(),
            set: options.set.clone()?,
            ttl,
            function: name,
            codec: options.codec,
        },
        policy: policy(options),
        function,
    })
}

/// What the function itself must be: not `const`, not variadic, with few `#[cfg]`-gated
/// arguments, and taking `&self` if it is a method.
fn check_signature(sig: &Signature, inputs: &Inputs, errors: &mut Errors) {
    if let Some(constness) = &sig.constness {
        errors.at(
            constness,
            "a `const fn` cannot be cached: the cache is read at run time; remove `const`",
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.at(variadic, "a variadic function cannot be cached");
    }
    let gated = inputs.params.iter().filter(|param| param.cfg().is_some());
    if let Some(param) = gated.clone().nth(MAX_GATED_ARGUMENTS) {
        errors.at(
            &param.pat,
            format!(
                "at most {MAX_GATED_ARGUMENTS} arguments may carry `#[cfg(…)]` (each doubles the generated code); group them in a struct"
            ),
        );
    }
    if let Some(receiver) = &inputs.receiver {
        let shared_ref =
            matches!(&*receiver.ty, Type::Reference(reference) if reference.mutability.is_none());
        if !shared_ref {
            errors.at(
                receiver,
                "a cached method must take `&self`: on a cache hit its body does not run, so it cannot change or consume `self`",
            );
        }
    }
}

/// Checks `skip(…)` and its use together with `key = …`; returns the arguments skipped.
fn check_key_options(
    options: &Options,
    inputs: &Inputs,
    name: &str,
    errors: &mut Errors,
) -> Vec<syn::Ident> {
    let skipped = options
        .skip
        .as_ref()
        .map(|skip| check_skip(skip, inputs, name, errors))
        .unwrap_or_default();
    if let (Some(skip), Some(_)) = (&options.skip, &options.key) {
        errors.at(
            &skip.keyword,
            "`skip` has no effect together with `key = …`: the key is exactly the expression; remove `skip(…)`",
        );
    }
    skipped
}

/// The key: `key = <expr>` and the arguments it names, or every argument not skipped or ignored.
fn key_plan(options: &Options, inputs: &Inputs, skipped: &[syn::Ident]) -> KeyPlan {
    match &options.key {
        Some(explicit) => {
            let uses = (inputs.params.iter().enumerate())
                .filter(|(_, param)| {
                    param
                        .name
                        .as_ref()
                        .is_some_and(|name| crate::parse::item::mentions(&explicit.expr, name))
                })
                .map(|(index, _)| index)
                .collect();
            KeyPlan::Explicit {
                expr: explicit.expr.clone(),
                uses,
            }
        }
        None => {
            let args = (inputs.params.iter().enumerate())
                .filter(|(_, param)| !param.ignored)
                .filter(|(_, param)| {
                    !param
                        .name
                        .as_ref()
                        .is_some_and(|name| skipped.contains(name))
                })
                .map(|(index, _)| index)
                .collect();
            KeyPlan::Default { args }
        }
    }
}

/// The freshness options (`none_ttl`, `refresh_ahead`, `stale_if_error`, `soft_timeout`,
/// `ttl_from`, `touch_on_read`) against the return kind, the ttl and each other.
fn check_freshness(
    options: &Options,
    ttl: TtlValue,
    return_kind: Option<&ReturnKind>,
    inputs: &Inputs,
    name: &str,
    errors: &mut Errors,
) {
    if let (Some(none_ttl), Some(kind)) = (&options.none_ttl, return_kind) {
        if kind.kind != Kind::Option {
            errors.at(
                &none_ttl.name,
                format!(
                    "`none_ttl` caches `None`, but `{name}` does not return an `Option`; remove `none_ttl`, or add `returns = option` if the return type is an `Option` behind an alias"
                ),
            );
        }
    }
    // With `batch`, `refresh_ahead` and `soft_timeout` are refused as a whole.
    if options.batch.is_none() {
        if options.refresh_ahead.is_some() {
            check_background_arguments(Background::RefreshAhead, inputs, errors);
        } else if options.soft_timeout.is_some() {
            check_background_arguments(Background::SoftTimeout, inputs, errors);
        }
    }
    if let Some(stale) = &options.stale_if_error {
        check_stale_if_error(stale, ttl, return_kind, name, errors);
    }
    if let (Some(soft), None, None) = (
        &options.soft_timeout,
        &options.stale_if_error,
        &options.batch,
    ) {
        check_soft_timeout(soft, return_kind, name, errors);
    }
    if let Some(ttl_from) = &options.ttl_from {
        check_ttl_from(&ttl_from.name, options, errors);
    }
    let needs_seconds = !matches!(ttl, TtlValue::Seconds(_));
    if let (Some(touch), true) = (&options.touch_on_read, needs_seconds) {
        errors.at(
            &touch.name,
            "`touch_on_read` resets the ttl on reads (sliding expiry), so it needs a ttl in seconds, e.g. `ttl = \"30m\", touch_on_read`",
        );
    }
    if let (Some(refresh_ahead), true) = (&options.refresh_ahead, needs_seconds) {
        errors.at(
            &refresh_ahead.name,
            "`refresh_ahead` is a fraction of the ttl, so it needs a ttl in seconds, e.g. `ttl = \"1h\", refresh_ahead = 0.2`",
        );
    }
}

/// `stale_if_error` keeps entries past a ttl in seconds, within Aerospike's limit, and serves
/// them when the body returns an `Err`.
fn check_stale_if_error(
    stale: &Spanned<u32>,
    ttl: TtlValue,
    return_kind: Option<&ReturnKind>,
    name: &str,
    errors: &mut Errors,
) {
    if let TtlValue::Seconds(seconds) = ttl {
        let lifetime = u64::from(seconds) + u64::from(stale.value);
        if lifetime > crate::parse::ttl::MAX_TTL_SECONDS {
            errors.at(
                &stale.name,
                format!(
                    "entries live ttl + stale_if_error = {lifetime} seconds, longer than Aerospike's maximum of ten years ({} seconds)",
                    crate::parse::ttl::MAX_TTL_SECONDS
                ),
            );
        }
    }
    if !matches!(ttl, TtlValue::Seconds(_)) {
        errors.at(
            &stale.name,
            "`stale_if_error` keeps entries this long after their ttl, so it needs a ttl in seconds, e.g. `ttl = \"1h\", stale_if_error = \"10m\"`",
        );
    }
    if let Some(kind) = return_kind {
        if kind.kind != Kind::Result {
            errors.at(
                &stale.name,
                format!(
                    "`stale_if_error` answers a failed load with the old value, so `{name}` must return a `Result` (an `Err` is the failure); add `returns = result` if the return type is a `Result` behind an alias"
                ),
            );
        }
    }
}

/// `soft_timeout` without `stale_if_error`: no entry is kept past its ttl, so there is never an
/// old value to answer a slow body with.
fn check_soft_timeout(
    soft: &Spanned<u32>,
    return_kind: Option<&ReturnKind>,
    name: &str,
    errors: &mut Errors,
) {
    let why = "`soft_timeout` answers a slow body with the old value that `stale_if_error` keeps past the ttl, and without it there is none";
    let fix = match return_kind {
        Some(kind) if kind.kind != Kind::Result => format!(
            "`stale_if_error` needs `{name}` to return a `Result` (an `Err` is answered with the old value too); return one and add `stale_if_error = \"10m\"`, or remove `soft_timeout`"
        ),
        _ => "add it, e.g. `ttl = \"1m\", stale_if_error = \"10m\", soft_timeout = \"100ms\"`".to_owned(),
    };
    errors.at(&soft.name, format!("{why}; {fix}"));
}

/// `ttl_from` replaces the one ttl that the fraction options and `none_ttl` build on.
fn check_ttl_from(ttl_from: &syn::Ident, options: &Options, errors: &mut Errors) {
    let conflicts = [
        ("refresh_ahead", options.refresh_ahead.is_some()),
        ("touch_on_read", options.touch_on_read.is_some()),
        ("none_ttl", options.none_ttl.is_some()),
    ];
    for (other, present) in conflicts {
        if present {
            errors.at(
                ttl_from,
                format!(
                    "`ttl_from` cannot be combined with `{other}`: {}",
                    match other {
                        "none_ttl" => "give `None` its TTL in the `ttl_from` function's caller instead, or drop one of them",
                        _ => "they judge entries by a fraction of the one `ttl`, which `ttl_from` replaces per entry",
                    }
                ),
            );
        }
    }
}

/// The runtime's `CachePolicy` of the options, 0 where an option is off.
fn policy(options: Options) -> Policy {
    Policy {
        none_ttl: options.none_ttl.map(|none_ttl| none_ttl.value),
        refresh_ahead_permille: options.refresh_ahead.map_or(0, |fraction| fraction.value),
        stale_if_error_secs: options.stale_if_error.map_or(0, |window| window.value),
        lease_ms: options.lease.map_or(0, |lease| lease.value),
        soft_timeout_ms: options.soft_timeout.map_or(0, |timeout| timeout.value),
        local: options.local.map(|local| local.value),
        touch_permille: options.touch_on_read.map_or(0, |touch| touch.value),
        ttl_from: options.ttl_from.map(|ttl_from| ttl_from.value),
    }
}

/// An option whose body runs in the background.
#[derive(Clone, Copy)]
enum Background {
    RefreshAhead,
    SoftTimeout,
}

impl Background {
    /// What the option does with the body, as the start of an error.
    fn runs(self) -> &'static str {
        match self {
            Background::RefreshAhead => {
                "`refresh_ahead` runs the body in the background after the call returns"
            }
            Background::SoftTimeout => {
                "`soft_timeout` runs the body in the background, where it may finish after the call returned"
            }
        }
    }
}

/// `refresh_ahead` and `soft_timeout` may run the body after the call returned, so the body cannot
/// borrow anything from the call: a borrowed argument is reported on its type (the runtime's
/// `BackgroundLoad` bound catches the rest, such as a non-`Send` argument).
fn check_background_arguments(option: Background, inputs: &Inputs, errors: &mut Errors) {
    let runs = option.runs();
    if let Some(receiver) = &inputs.receiver {
        errors.at(
            receiver,
            format!("{runs}, so the body cannot borrow `self`; cache an associated function that takes an owned handle instead (e.g. `fn get(repo: Arc<Repo>, id: u64)`)"),
        );
    }
    for param in &inputs.params {
        if borrows(param.ty.to_token_stream()) {
            errors.at(
                &param.ty,
                format!("{runs}, so arguments cannot be borrowed; take an owned value (e.g. `Arc<Pool>` instead of `&Pool`, `String` instead of `&str`)"),
            );
        }
    }
}

/// Whether a type's tokens hold a reference or a lifetime other than `'static`.
fn borrows(tokens: proc_macro2::TokenStream) -> bool {
    let mut trees = tokens.into_iter().peekable();
    while let Some(tree) = trees.next() {
        match tree {
            // `&'a T` is judged by its lifetime below; a plain `&T` borrows.
            proc_macro2::TokenTree::Punct(punct) if punct.as_char() == '&' => {
                let has_lifetime = matches!(trees.peek(), Some(proc_macro2::TokenTree::Punct(next)) if next.as_char() == '\'');
                if !has_lifetime {
                    return true;
                }
            }
            proc_macro2::TokenTree::Punct(punct) if punct.as_char() == '\'' => {
                let is_static = matches!(trees.peek(), Some(proc_macro2::TokenTree::Ident(name)) if name == "static");
                if !is_static {
                    return true;
                }
            }
            proc_macro2::TokenTree::Group(group) if borrows(group.stream()) => return true,
            _ => {}
        }
    }
    false
}

/// Checks `skip(…)` names against the arguments; returns the valid ones.
fn check_skip(
    skip: &Skip,
    inputs: &Inputs,
    function: &str,
    errors: &mut Errors,
) -> Vec<syn::Ident> {
    let names: Vec<&syn::Ident> = inputs
        .params
        .iter()
        .filter_map(|param| param.name.as_ref())
        .collect();
    let mut skipped: Vec<syn::Ident> = Vec::new();
    for name in &skip.names {
        if name == "self" {
            errors.at(
                name,
                "`self` is never part of the key; remove it from `skip(…)`",
            );
        } else if skipped.contains(name) {
            errors.at(name, format!("`{name}` is already skipped"));
        } else if names.contains(&name) {
            skipped.push(name.clone());
        } else if names.is_empty() {
            errors.at(
                name,
                format!(
                    "`{name}` is not an argument of `{function}`, which has no named arguments"
                ),
            );
        } else {
            let listed: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
            errors.at(
                name,
                format!(
                    "`{name}` is not an argument of `{function}`; its arguments are {}",
                    listed.join(", ")
                ),
            );
        }
    }
    skipped
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::borrows;

    #[test]
    fn finds_borrowed_argument_types() {
        assert!(borrows(quote!(&Pool)));
        assert!(borrows(quote!(&mut Pool)));
        assert!(borrows(quote!(&'a str)));
        assert!(borrows(quote!(Vec<Cow<'_, str>>)));
        assert!(!borrows(quote!(&'static str)));
        assert!(!borrows(quote!(Arc<Pool>)));
        assert!(!borrows(quote!(Box<dyn Fn() + Send + 'static>)));
    }
}
