//! `#[cache_aside]` on an `impl` block: expands the `#[cache_aside(…)]` methods inside it knowing
//! that they are methods. That is what lets a trait impl keep its companions (they move to an
//! inherent impl block of the same type, since a trait impl may only hold the trait's items) and
//! lets associated functions without `self` be cached with companions.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Attribute, ImplItem, ItemImpl, Meta, Token};

use crate::check::plan::Context;
use crate::emit::Expansion;
use crate::errors::Errors;

/// Whether `item` is an `impl` block (after its attributes), without parsing its bodies.
pub fn is_impl_block(item: &TokenStream) -> bool {
    let parser = |input: ParseStream| {
        input.call(Attribute::parse_outer)?;
        let _ = input.parse::<Option<Token![default]>>()?;
        let _ = input.parse::<Option<Token![unsafe]>>()?;
        let is_impl = input.peek(Token![impl]);
        input.parse::<TokenStream>()?;
        Ok(is_impl)
    };
    parser.parse2(item.clone()).unwrap_or(false)
}

/// Expands every `#[cache_aside(…)]` method of the block; the block's other items are unchanged.
pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut block: ItemImpl = match syn::parse2(item.clone()) {
        Ok(block) => block,
        Err(error) => return crate::errors::errors_and_original(error, item),
    };
    let mut errors = Errors::default();
    if !args.is_empty() {
        errors.at(
            &args,
            "on an `impl` block, `#[cache_aside]` takes no options; write them on each method: `#[cache_aside(set = \"users\", ttl = 3600)]`",
        );
    }
    let of_trait = block.trait_.is_some();
    let mut companions = TokenStream::new();
    let mut cached_any = false;
    let mut items = Vec::with_capacity(block.items.len());
    for impl_item in block.items.drain(..) {
        let ImplItem::Fn(mut method) = impl_item else {
            items.push(impl_item.into_token_stream());
            continue;
        };
        let Some(position) = method.attrs.iter().position(is_cache_aside) else {
            items.push(method.into_token_stream());
            continue;
        };
        cached_any = true;
        let attribute = method.attrs.remove(position);
        let span = attribute.path().span();
        let args = match attribute.meta {
            Meta::Path(_) => TokenStream::new(),
            Meta::List(list) => list.tokens,
            Meta::NameValue(name_value) => {
                errors.at(
                    &name_value,
                    "write the options in parentheses: `#[cache_aside(set = \"users\")]`",
                );
                items.push(method.into_token_stream());
                continue;
            }
        };
        let context = Context::InImpl {
            attribute: span,
            of_trait,
        };
        match crate::pipeline::cache_aside(args, method.to_token_stream(), context) {
            Ok(Expansion {
                function,
                companions: more,
            }) => {
                items.push(function);
                companions.extend(more);
            }
            // Reported with the method unchanged, so the rest of the block still expands.
            Err(error_and_original) => items.push(error_and_original),
        }
    }
    if !cached_any {
        errors.at_span(
            Span::call_site(),
            "no method in this `impl` block has `#[cache_aside(…)]`; annotate the methods to cache, or remove this attribute",
        );
    }
    let errors = errors
        .into_error()
        .map(|error| error.to_compile_error())
        .unwrap_or_default();
    let ItemImpl {
        attrs,
        defaultness,
        unsafety,
        impl_token,
        generics,
        trait_,
        self_ty,
        ..
    } = &block;
    let (impl_generics, _, where_clause) = generics.split_for_impl();
    let trait_ = trait_
        .as_ref()
        .map(|(bang, path, for_token)| quote!(#bang #path #for_token));
    let (inline_companions, inherent) = if of_trait && !companions.is_empty() {
        let inherent = quote! {
            impl #impl_generics #self_ty #where_clause {
                #companions
            }
        };
        (TokenStream::new(), inherent)
    } else {
        (companions, TokenStream::new())
    };
    quote! {
        #errors
        #(#attrs)*
        #defaultness #unsafety #impl_token #impl_generics #trait_ #self_ty #where_clause {
            #(#items)*
            #inline_companions
        }
        #inherent
    }
}

/// `#[cache_aside(…)]`, `#[cacheaside::cache_aside(…)]` or any path ending in `cache_aside`.
fn is_cache_aside(attribute: &Attribute) -> bool {
    attribute
        .path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "cache_aside")
}
