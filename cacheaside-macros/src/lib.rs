//! Attribute macros of `cacheaside`. Depend on the `cacheaside` crate instead of this one.
//!
//! Stages: read the attribute (`attr`) and the function (`item`), check them together with
//! spanned errors (`valid`), then emit a thin wrapper over the runtime (`expand`). On any error
//! the original function is emitted unchanged next to the errors (`fallback`).

mod batch;
mod errors;
mod expand;
mod flavor;
mod impl_block;
mod parse;
mod put_evict;
mod return_kind;
mod valid;

use proc_macro::TokenStream;

/// Caches an `async fn` in Aerospike. Documented in the `cacheaside` crate, which re-exports it.
#[proc_macro_attribute]
pub fn cache_aside(args: TokenStream, item: TokenStream) -> TokenStream {
    cache_aside_impl(args.into(), item.into()).into()
}

/// Writes a function's result to the cache after it succeeded (write-through). Documented in the
/// `cacheaside` crate, which re-exports it.
#[proc_macro_attribute]
pub fn cache_put(args: TokenStream, item: TokenStream) -> TokenStream {
    put_evict::expand(parse::put_evict::Which::Put, args.into(), item.into()).into()
}

/// Removes a cache entry (or a whole set) when a function succeeds. Documented in the `cacheaside`
/// crate, which re-exports it.
#[proc_macro_attribute]
pub fn cache_evict(args: TokenStream, item: TokenStream) -> TokenStream {
    put_evict::expand(parse::put_evict::Which::Evict, args.into(), item.into()).into()
}

fn cache_aside_impl(
    args: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    if impl_block::is_impl_block(&item) {
        return impl_block::expand(args, item);
    }
    match expand_function(args, item, valid::Context::Alone) {
        Ok(expand::Expansion {
            function,
            companions,
        }) => quote::quote!(#function #companions),
        Err(error_and_original) => error_and_original,
    }
}

/// Expands one annotated function, or returns its errors followed by the function unchanged.
fn expand_function(
    args: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
    context: valid::Context,
) -> Result<expand::Expansion, proc_macro2::TokenStream> {
    let mut errors = errors::Errors::default();
    let options = parse::cache_aside::parse(args, &mut errors);
    let plan = match syn::parse2::<parse::item::CachedFn>(item.clone()) {
        Ok(function) => valid::check(function, options, context, &mut errors),
        Err(error) => {
            errors.push(error);
            None
        }
    };
    match (errors.into_error(), plan) {
        (None, Some(plan)) => Ok(expand::expand_parts(&plan)),
        (Some(error), _) => Err(errors::errors_and_original(error, item)),
        // `check` returns no plan only after recording an error.
        (None, None) => Err(item),
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::cache_aside_impl;

    fn expand(args: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> String {
        cache_aside_impl(args, item).to_string()
    }

    #[test]
    fn on_errors_emits_every_error_and_the_function_unchanged() {
        let item = quote!(
            const fn get(id: u32) -> DbResult<u32> {
                Ok(id)
            }
        );
        let output = expand(quote!(ttl = "1y", colour = 3), item.clone());
        assert!(output.ends_with(&item.to_string()), "{output}");
        assert_eq!(output.matches("compile_error").count(), 5, "{output}");
        for message in [
            "invalid ttl",
            "unknown option `colour`",
            "a `const fn` cannot be cached",
            "missing `set`",
            "add `returns = result`",
        ] {
            assert!(output.contains(message), "{message} in {output}");
        }
    }

    #[test]
    fn keeps_an_unparsable_body_verbatim() {
        let item = quote!(async fn get(id: u32) -> u32 { id + });
        let output = expand(quote!(set = "s"), item);
        assert!(!output.contains("compile_error"), "{output}");
        assert!(output.contains("{ id + }"), "{output}");
    }

    #[test]
    fn generates_companions_unless_turned_off() {
        let item = quote!(
            async fn get(id: u32) -> u32 {
                id
            }
        );
        let with = expand(quote!(set = "s"), item.clone());
        for companion in ["get_invalidate", "get_refresh", "get_uncached", "get_peek"] {
            assert!(with.contains(companion), "{companion} in {with}");
        }
        let without = expand(quote!(set = "s", companions = false), item);
        assert!(
            !without.contains("get_invalidate") && !without.contains("get_refresh"),
            "{without}"
        );
        assert!(!without.contains("__cacheaside_load_get"), "{without}");
    }

    #[test]
    fn invalidate_takes_the_arguments_the_key_expression_names() {
        let item = quote!(
            async fn get(tenant: &str, id: i64, verbose: bool) -> u32 {
                0
            }
        );
        let output = expand(quote!(set = "s", key = format!("{tenant}:{}", id)), item);
        let invalidate = &output[output.find("fn get_invalidate").expect("companion")..];
        let params = &invalidate[..invalidate.find(") ->").expect("signature")];
        assert!(
            params.contains("tenant") && params.contains("id"),
            "{params}"
        );
        assert!(!params.contains("verbose"), "{params}");
    }

    #[test]
    fn an_annotated_trait_impl_moves_the_companions_to_an_inherent_impl() {
        let output = expand(
            quote!(),
            quote!(
                impl<T: Clone> Store for Repo<T>
                where
                    T: Send,
                {
                    #[cache_aside(set = "s")]
                    async fn get(&self, id: u32) -> u32 {
                        id
                    }
                    fn other(&self) {}
                }
            ),
        );
        let inherent = output
            .find("impl < T : Clone > Repo < T > where T : Send")
            .expect("an inherent impl with the same generics");
        let (trait_impl, inherent) = output.split_at(inherent);
        assert!(
            trait_impl.contains("fn get") && trait_impl.contains("fn other"),
            "{output}"
        );
        assert!(!trait_impl.contains("get_invalidate"), "{output}");
        for item in [
            "pub async fn get_invalidate",
            "pub async fn get_refresh",
            "pub async fn get_uncached",
            "pub async fn get_peek",
            "__cacheaside_load_get",
        ] {
            assert!(inherent.contains(item), "{item} in {inherent}");
        }
        assert!(!output.contains("compile_error"), "{output}");
    }

    #[test]
    fn an_annotated_inherent_impl_keeps_everything_in_the_block() {
        let output = expand(
            quote!(),
            quote!(
                impl Repo {
                    #[cacheaside::cache_aside(set = "s")]
                    fn count(name: &str) -> usize {
                        name.len()
                    }
                }
            ),
        );
        assert_eq!(output.matches("impl Repo").count(), 1, "{output}");
        assert!(
            output.contains("Self :: __cacheaside_load_count"),
            "{output}"
        );
        assert!(output.contains("fn count_invalidate"), "{output}");
    }

    #[test]
    fn freshness_options_pick_the_runtime_entry_point_and_kind() {
        let item = quote!(
            async fn find(id: u32) -> Option<u32> {
                None
            }
        );
        let plain = expand(quote!(set = "s", ttl = 60), item.clone());
        assert!(plain.contains("get_or_load_with ("), "{plain}");
        assert!(!plain.contains("cache_none"), "{plain}");
        let fresh = expand(
            quote!(set = "s", ttl = 60, none_ttl = "5s", refresh_ahead = 0.2),
            item,
        );
        assert!(fresh.contains("get_or_load_refreshing ("), "{fresh}");
        assert!(fresh.contains(". cache_none ()"), "{fresh}");
        assert!(fresh.contains("NegativeOptionKind"), "{fresh}");
        assert!(fresh.contains("refresh_ahead_permille : 200u16"), "{fresh}");
        assert!(fresh.contains("Ttl :: Seconds (5u32)"), "{fresh}");
    }

    #[test]
    fn sync_functions_call_the_blocking_runtime() {
        let output = expand(
            quote!(set = "s"),
            quote!(
                fn get(id: u32) -> u32 {
                    id
                }
            ),
        );
        for call in [
            "get_or_load_with_blocking",
            "refresh_with_blocking",
            "invalidate_blocking",
            "peek_blocking",
        ] {
            assert!(output.contains(call), "{call} in {output}");
        }
        assert!(!output.contains(". await"), "{output}");
    }
}
