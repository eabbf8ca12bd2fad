//! Avatar images: decoded with hard limits, re-encoded as a 256×256 PNG. Uploaded bytes
//! are never served back as they came (no polyglots, no metadata, no surprises).

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};

pub const MAX_UPLOAD_BYTES: usize = 2 * 1024 * 1024;
pub const SIZE: u32 = 256;
/// Larger than any camera's photo side, far smaller than a decompression bomb.
const MAX_SIDE: u32 = 8192;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AvatarError {
    #[error("Choose an image to upload.")]
    Empty,
    #[error("The image is larger than 2 MB. Choose a smaller file.")]
    TooLarge,
    #[error("That file is not a PNG, JPEG or WebP image.")]
    NotAnImage,
    #[error("The image is {0}×{1} pixels; the most we accept is 8192×8192.")]
    TooManyPixels(u32, u32),
    #[error("The image could not be read. It may be damaged; try another file.")]
    Corrupt,
}

/// CPU-heavy: call on the blocking pool.
pub fn process(bytes: &[u8]) -> Result<Vec<u8>, AvatarError> {
    if bytes.is_empty() {
        return Err(AvatarError::Empty);
    }
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(AvatarError::TooLarge);
    }
    let format = image::guess_format(bytes).map_err(|_| AvatarError::NotAnImage)?;
    if !matches!(
        format,
        ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP
    ) {
        return Err(AvatarError::NotAnImage);
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let (w, h) = reader.into_dimensions().map_err(|_| AvatarError::Corrupt)?;
    if w > MAX_SIDE || h > MAX_SIDE {
        return Err(AvatarError::TooManyPixels(w, h));
    }
    reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let img = reader.decode().map_err(|_| AvatarError::Corrupt)?;
    let thumb = img.resize_to_fill(SIZE, SIZE, image::imageops::FilterType::Triangle);
    let mut out = Vec::new();
    thumb
        .to_rgba8()
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .map_err(|_| AvatarError::Corrupt)?;
    Ok(out)
}

/// Two letters for the default avatar.
pub fn initials(first: &str, last: &str, email: &str) -> String {
    let pick = |s: &str| {
        s.chars()
            .find(|c| c.is_alphanumeric())
            .map(|c| c.to_uppercase().collect::<String>())
    };
    match (pick(first), pick(last)) {
        (Some(a), Some(b)) => a + &b,
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => pick(email).unwrap_or_else(|| "?".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(w, h, image::Rgb([10, 120, 200]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn a_png_is_reencoded_to_256_square() {
        let out = process(&png(640, 480)).unwrap();
        let back = image::load_from_memory(&out).unwrap();
        assert_eq!((back.width(), back.height()), (SIZE, SIZE));
    }

    #[test]
    fn bad_uploads_are_refused_with_reasons() {
        assert_eq!(process(b""), Err(AvatarError::Empty));
        assert_eq!(
            process(b"hello, this is text"),
            Err(AvatarError::NotAnImage)
        );
        assert_eq!(
            process(&vec![0u8; 3 * 1024 * 1024]),
            Err(AvatarError::TooLarge)
        );
        let mut broken = png(10, 10);
        broken.truncate(60);
        assert_eq!(process(&broken), Err(AvatarError::Corrupt));
    }

    #[test]
    fn initials_come_from_names_then_email() {
        assert_eq!(initials("adele", "Vance", "x@y.z"), "AV");
        assert_eq!(initials("", "", "megan@acme.test"), "M");
        assert_eq!(initials("", "", ""), "?");
    }
}
