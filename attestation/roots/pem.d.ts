// PEM files are bundled as text (Bun `with { type: "text" }`), so compiled binaries carry the roots.
declare module "*.pem" {
  const text: string;
  export default text;
}
