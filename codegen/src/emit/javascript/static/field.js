/** `header[name]`, checked to be an integer from 0 to `max`. */
function field(header, name, max) {
  const value = header[name];
  if (value === undefined) {
    throw new HeaderError("missing_field", `the header needs \`${name}\``);
  }
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new HeaderError("out_of_range", `\`${name}\` is ${value}, not an integer from 0 to ${max}`);
  }
  return value;
}
