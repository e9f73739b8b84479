package spec

// DecodeYAML decodes data, a file holding one YAML mapping, strictly into v
// (a pointer to a struct with json tags), with the machinery spec files
// use: every unknown field, duplicate field and wrong type is reported at
// once, each as an *Error with file, line and field. Programs use it for
// their own configuration files (fleetd's --config).
func DecodeYAML(file string, data []byte, v any) error {
	var errs errorList
	decodeFile(file, data, v, &errs)
	return errs.err()
}
