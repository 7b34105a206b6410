//! `#[cache_put]` and `#[cache_evict]`: check the options against the function, then rewrite its
//! body in place.
//!
//! The signature is kept as written (any receiver: the body always runs). The new body builds the
//! key (and, for `value = <expr>`, encodes the value) from the arguments, runs the original body
//! as a block typed with the declared return type, then hands the result to one runtime function.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, GenericArgument, PathArguments, ReturnType, Type};

use crate::errors::Errors;
use crate::expand::optional_str;
use crate::flavor::Flavor;
use crate::parse::item::CachedFn;
use crate::parse::put_evict::{self as write_attr, Which, WriteOptions};
use crate::parse::ttl::TtlValue;
use crate::parse::values::Kind;
use crate::return_kind::ReturnKind;

/// What the expansion needs, valid.
struct Plan {
    which: Which,
    krate: syn::Path,
    function: CachedFn,
    flavor: Flavor,
    cache: Option<syn::LitStr>,
    namespace: Option<syn::LitStr>,
    set: syn::LitStr,
    ttl: TtlValue,
    name: String,
    /// `None` only for `all = true`.
    key: Option<Expr>,
    value: Option<Expr>,
    before: bool,
    all: bool,
    return_kind: ReturnKind,
}

/// Expands one annotated function, or returns its errors followed by the function unchanged.
pub fn expand(which: Which, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let options = write_attr::parse(which, args, &mut errors);
    write_attr::reject_foreign(which, &options, &mut errors);
    let plan = match syn::parse2::<CachedFn>(item.clone()) {
        Ok(function) => check(which, function, options, &mut errors),
        Err(error) => {
            errors.push(error);
            None
        }
    };
    match (errors.into_error(), plan) {
        (None, Some(plan)) => emit(&plan),
        (Some(error), _) => crate::errors::errors_and_original(error, item),
        // `check` returns no plan only after recording an error.
        (None, None) => item,
    }
}

fn check(
    which: Which,
    function: CachedFn,
    options: WriteOptions,
    errors: &mut Errors,
) -> Option<Plan> {
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
    Some(Plan {
        which,
        krate: options
            .krate
            .unwrap_or_else(|| syn::parse_quote!(::cacheaside)),
        flavor: Flavor::of(&function.sig),
        function,
        cache: options.cache,
        namespace: options.namespace,
        set: options.set?,
        ttl,
        name,
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

fn emit(plan: &Plan) -> TokenStream {
    let krate = &plan.krate;
    let local = |text: &str| syn::Ident::new(text, Span::mixed_site());
    let (spec, key, value, kind, returned) = (
        local("__CACHEASIDE_SPEC"),
        local("__cacheaside_key"),
        local("__cacheaside_value"),
        local("__cacheaside_kind"),
        local("__cacheaside_returned"),
    );
    let cache = optional_str(plan.cache.as_ref());
    let namespace = optional_str(plan.namespace.as_ref());
    let set = &plan.set;
    let ttl = match plan.ttl {
        TtlValue::Seconds(seconds) => quote!(#krate::__private::Ttl::Seconds(#seconds)),
        TtlValue::NamespaceDefault => quote!(#krate::__private::Ttl::NamespaceDefault),
        TtlValue::Never => quote!(#krate::__private::Ttl::Never),
    };
    let function_name = &plan.name;
    let key_binding = match &plan.key {
        Some(expr) => {
            let span = expr.span();
            quote_spanned!(span=> let #key = #krate::__private::explicit_key(#expr);)
        }
        None => TokenStream::new(),
    };
    let value_binding = match &plan.value {
        Some(expr) => {
            let span = expr.span();
            quote_spanned!(span=> let #value = #krate::__private::put_value(&(#expr));)
        }
        None => TokenStream::new(),
    };
    // `returns`-checked kinds need the cached part to be storable; the others only say which
    // values are a success.
    let kind_value = match (plan.which, &plan.value) {
        (Which::Put, None) => plan.return_kind.checked_marker(krate),
        _ => match plan.return_kind.kind {
            Kind::Result => quote!(#krate::__private::ResultKind),
            Kind::Option => quote!(#krate::__private::OptionKind),
            Kind::Plain => quote!(#krate::__private::PlainKind),
        },
    };
    let alias_probe = plan.return_kind.alias_probe(krate);
    let return_type = &plan.return_kind.ty;
    let body = &plan.function.body;
    let run_body = match plan.flavor {
        Flavor::Async => quote! {
            async move {
                // Typed so that `?` and `return` in the body see the declared return type.
                let #returned: #return_type = #body;
                #returned
            }.await
        },
        Flavor::Sync => quote! {
            (move || -> #return_type {
                let #returned: #return_type = #body;
                #returned
            })()
        },
    };
    let call = |name: &str, args: TokenStream| {
        let function = plan.flavor.runtime_fn(name);
        plan.flavor
            .wait(quote!(#krate::__private::#function(&#spec, #args)))
    };
    let ret_span = plan.return_kind.span;
    let after = match plan.which {
        Which::Put => {
            let entry = match &plan.value {
                None => {
                    quote_spanned!(ret_span=> #krate::__private::put_returned(#kind, &#returned))
                }
                Some(_) => quote_spanned!(ret_span=>
                    #krate::__private::put_value_if::<#return_type, _>(#kind, #value, &#returned)
                ),
            };
            let put = call("cache_put", quote!(#key, #entry));
            quote!(#put;)
        }
        Which::Evict => {
            let evict = if plan.all {
                call("cache_evict_all", TokenStream::new())
            } else {
                call("cache_evict", quote!(#key))
            };
            if plan.before {
                // Again after the call, whatever it returned: a read between the first removal
                // and the source write may have cached the old value.
                quote!(#evict;)
            } else {
                let succeeded = quote_spanned!(ret_span=> #krate::__private::succeeded::<#return_type, _>(#kind, &#returned));
                quote!(if #succeeded { #evict; })
            }
        }
    };
    let before = match (plan.which, plan.before) {
        (Which::Evict, true) if plan.all => {
            let evict = call("cache_evict_all", TokenStream::new());
            quote!(#evict;)
        }
        (Which::Evict, true) => {
            let evict = call("cache_evict", quote!(::core::clone::Clone::clone(&#key)));
            quote!(#evict;)
        }
        _ => TokenStream::new(),
    };
    let function = &plan.function;
    let attrs = &function.attrs;
    let vis = &function.vis;
    let sig = &function.sig;
    quote! {
        #(#attrs)*
        #vis #sig {
            #[allow(unused_imports)]
            use #krate::__private::{
                AliasedKindCheck as _, CachedReturnFallback as _, KindProbeFallback as _,
            };
            static #spec: #krate::__private::CacheSpec = #krate::__private::CacheSpec {
                cache: #cache,
                namespace: #namespace,
                set: #set,
                ttl: #ttl,
                function: #function_name,
            };
            #key_binding
            #value_binding
            let #kind = #kind_value;
            #alias_probe
            #before
            let #returned: #return_type = #run_body;
            #after
            #returned
        }
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    fn expand_put(args: TokenStream, item: TokenStream) -> String {
        expand(Which::Put, args, item).to_string()
    }

    fn expand_evict(args: TokenStream, item: TokenStream) -> String {
        expand(Which::Evict, args, item).to_string()
    }

    #[test]
    fn a_put_writes_the_returned_value_after_the_body() {
        let output = expand_put(
            quote!(set = "users", key = user.id, ttl = "1h"),
            quote!(
                async fn save(db: &Db, user: User) -> Result<User, DbError> {
                    db.save(user).await
                }
            ),
        );
        assert!(!output.contains("compile_error"), "{output}");
        let key = output.find("explicit_key (user . id)").expect("key");
        let body = output.find("db . save (user)").expect("body");
        let put = output.find("cache_put (").expect("put");
        assert!(key < body && body < put, "{output}");
        assert!(output.contains("put_returned ("), "{output}");
        assert!(output.contains("Ttl :: Seconds (3600u32)"), "{output}");
        assert!(output.contains("result_kind"), "checked kind: {output}");
        assert!(output.contains(". await"), "{output}");
    }

    #[test]
    fn a_put_with_value_encodes_it_before_the_body() {
        let output = expand_put(
            quote!(set = "users", key = user.id, value = &user),
            quote!(
                fn save(db: &Db, user: User) -> Result<(), DbError> {
                    db.save(user)
                }
            ),
        );
        assert!(!output.contains("compile_error"), "{output}");
        let value = output
            .find("put_value (& (user))")
            .expect("value, unreferenced");
        let body = output.find("db . save (user)").expect("body");
        assert!(value < body, "{output}");
        assert!(output.contains("put_value_if :: <"), "{output}");
        assert!(output.contains("cache_put_blocking ("), "{output}");
        assert!(!output.contains(". await"), "{output}");
        assert!(!output.contains("result_kind"), "unchecked kind: {output}");
    }

    #[test]
    fn an_evict_removes_after_success_or_before_and_after() {
        let item = quote!(
            async fn delete(id: u64) -> Result<(), DbError> {
                Ok(())
            }
        );
        let after = expand_evict(quote!(set = "users", key = id), item.clone());
        assert!(!after.contains("compile_error"), "{after}");
        assert_eq!(after.matches("cache_evict (").count(), 1, "{after}");
        assert!(
            after.contains("if :: cacheaside :: __private :: succeeded"),
            "{after}"
        );
        let both = expand_evict(quote!(set = "users", key = id, before = true), item.clone());
        assert_eq!(both.matches("cache_evict (").count(), 2, "{both}");
        assert!(!both.contains("succeeded"), "{both}");
        let all = expand_evict(quote!(set = "users", all = true), item);
        assert!(
            all.contains("cache_evict_all (& __CACHEASIDE_SPEC ,)"),
            "{all}"
        );
        assert!(!all.contains("explicit_key"), "{all}");
    }

    #[test]
    fn keeps_the_signature_and_any_receiver() {
        let output = expand_put(
            quote!(set = "s", key = id),
            quote!(
                pub(crate) async fn rename<'a>(
                    &mut self,
                    id: u64,
                    name: &'a str,
                ) -> Option<String> {
                    self.names.insert(id, name.to_owned())
                }
            ),
        );
        assert!(!output.contains("compile_error"), "{output}");
        assert!(
            output.starts_with(
                "pub (crate) async fn rename < 'a > (& mut self , id : u64 , name : & 'a str"
            ) && output.contains("-> Option < String > {"),
            "{output}"
        );
    }

    fn errors_of(which: Which, args: TokenStream, item: TokenStream) -> Vec<String> {
        let output = expand(which, args, item.clone()).to_string();
        if output.contains("compile_error") {
            assert!(
                output.ends_with(&item.to_string()),
                "the function unchanged: {output}"
            );
        }
        output
            .split("compile_error ! {")
            .skip(1)
            .map(|part| part[..part.find('}').unwrap_or(part.len())].to_owned())
            .collect()
    }

    #[test]
    fn reports_every_misuse_at_once() {
        let found = errors_of(
            Which::Put,
            quote!(ttl = "1y"),
            quote!(
                const fn save(id: u64) {}
            ),
        );
        assert_eq!(found.len(), 5, "{found:#?}");
        for (message, expected) in found.iter().zip([
            "invalid ttl",
            "a `const fn` cannot write",
            "missing `set`",
            "missing `key`: add `key = <expr>` equal to the reader's `key = …`",
            "returns no value to cache; add `value = <expr>`",
        ]) {
            assert!(message.contains(expected), "{expected} in {message}");
        }
        let found = errors_of(
            Which::Evict,
            quote!(set = "s", all = true, key = id),
            quote!(
                fn delete(id: u64) {}
            ),
        );
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].contains("`all = true` empties the whole set, so it takes no `key`"));
        let found = errors_of(
            Which::Evict,
            quote!(set = "s"),
            quote!(
                fn delete(id: u64) {}
            ),
        );
        assert!(found[0].contains("or write `all = true`"), "{found:#?}");
    }

    #[test]
    fn a_put_of_an_empty_success_asks_for_value() {
        for item in [
            quote!(
                fn save(id: u64) -> Result<(), E> {
                    Ok(())
                }
            ),
            quote!(
                fn save(id: u64) -> Option<()> {
                    None
                }
            ),
            quote!(
                fn save(id: u64) -> () {}
            ),
        ] {
            let found = errors_of(Which::Put, quote!(set = "s", key = id), item);
            assert_eq!(found.len(), 1, "{found:#?}");
            assert!(found[0].contains("add `value = <expr>`"), "{found:#?}");
        }
        let evict = errors_of(
            Which::Evict,
            quote!(set = "s", key = id),
            quote!(
                fn delete(id: u64) -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(evict.is_empty(), "{evict:#?}");
    }
}
