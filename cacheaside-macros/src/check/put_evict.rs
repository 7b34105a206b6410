//! Checks the options of `#[cache_put]` and `#[cache_evict]` against the function and decides the
//! plan.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Expr, GenericArgument, PathArguments, ReturnType, Type};

use crate::check::plan::{Flavor, ReturnKind, Spec, WritePlan};
use crate::errors::Errors;
use crate::parse::item::CachedFn;
use crate::parse::put_evict::{Which, WriteOptions};
use crate::parse::ttl::TtlValue;
use crate::parse::values::Kind;

pub fn check(
    which: Which,
    function: CachedFn,
    options: WriteOptions,
    errors: &mut Errors,
) -> Option<WritePlan> {
    let sig = &function.sig;
    let name = syn::ext::IdentExt::unraw(&sig.ident).to_string();
    let attribute = which.name();
    if let Some(constness) = &sig.constness {
        errors.at(
            constness,
            format!("a `const fn` cannot write to the cache, which is reached at run time; remove `const` or `#[{attribute}]`"),
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.at(
            variadic,
            format!("`#[{attribute}]` does not apply to a variadic function"),
        );
    }
    let example = match which {
        Which::Put => "#[cache_put(set = \"users\", key = user.id, ttl = \"1h\")]",
        Which::Evict => "#[cache_evict(set = \"users\", key = id)]",
    };
    if options.set.is_none() {
        errors.at_span(
            Span::call_site(),
            format!("missing `set`: name the set of the entries this function changes, the reader's `set`, e.g. `{example}`"),
        );
    }
    // On a put, `all` is reported as an option of `#[cache_evict]` (see `reject_foreign`).
    let all = which == Which::Evict && options.all.as_ref().is_some_and(|all| all.value.value);
    if let (true, Some(key)) = (all, &options.key) {
        errors.at(
            &key.name,
            "`all = true` empties the whole set, so it takes no `key`; remove `key = …`, or remove `all = true` to remove one entry",
        );
    }
    if options.key.is_none() && !all {
        let alternative = match which {
            Which::Put => "",
            Which::Evict => "; or write `all = true` to empty the whole set",
        };
        errors.at_span(
            Span::call_site(),
            format!(
                "missing `key`: add `key = <expr>` equal to the reader's `key = …` (the default key of `#[cache_aside]` includes the reader's function name, so a writer cannot address it); a reader without `key` can be invalidated with `<reader>_invalidate(<args>)`{alternative}"
            ),
        );
    }
    let return_kind = ReturnKind::decide(&sig.output, options.returns.as_ref(), errors);
    if let (Which::Put, None, Some(kind)) = (which, &options.value, &return_kind) {
        if let Some(nothing) = returns_nothing(&sig.output, kind.kind) {
            errors.at_span(
                nothing,
                format!(
                    "`#[cache_put]` writes the value `{name}` returns, but it returns no value to cache; add `value = <expr>` naming the value to write (e.g. `value = user`), or use `#[cache_evict]`"
                ),
            );
        }
    }
    let ttl = options
        .ttl
        .map_or(TtlValue::NamespaceDefault, |ttl| ttl.value);
    Some(WritePlan {
        which,
        krate: options
            .krate
            .unwrap_or_else(|| syn::parse_quote!(::cacheaside)),
        flavor: Flavor::of(&function.sig),
        function,
        spec: Spec {
            cache: options.cache,
            namespace: options.namespace,
            set: options.set?,
            ttl,
            function: name,
            codec: options.codec.map(|codec| codec.value),
        },
        key: options.key.map(|key| key.value),
        value: options.value.map(|value| unreferenced(value.value)),
        before: options.before.is_some_and(|before| before.value.value),
        all,
        return_kind: return_kind?,
    })
}

/// `value = &user` means the same as `value = user`: the expression is borrowed either way.
fn unreferenced(expr: Expr) -> Expr {
    match expr {
        Expr::Reference(reference) if reference.mutability.is_none() => *reference.expr,
        other => other,
    }
}

/// Where a return type shows that a success carries no value: `()`, or `()` in `Ok`/`Some`.
fn returns_nothing(output: &ReturnType, kind: Kind) -> Option<Span> {
    let ReturnType::Type(_, ty) = output else {
        return (kind == Kind::Plain).then(Span::call_site);
    };
    let is_unit = |ty: &Type| matches!(ty, Type::Tuple(tuple) if tuple.elems.is_empty());
    match kind {
        Kind::Plain => is_unit(ty).then(|| ty.span()),
        Kind::Result | Kind::Option => {
            let Type::Path(path) = &**ty else {
                return None;
            };
            let last = path.path.segments.last()?;
            let PathArguments::AngleBracketed(args) = &last.arguments else {
                return None;
            };
            match args.args.first()? {
                GenericArgument::Type(first) if is_unit(first) => Some(first.span()),
                _ => None,
            }
        }
    }
}
