package jobspec

import "fmt"

// DecodedConfigs decodes every vertex's config with its operator's
// Definition.DecodeConfig and returns them by vertex id (nil for operators
// without config). It fails like Validate on an unknown operator or a bad
// config; call it on a validated spec.
func (s *Spec) DecodedConfigs(reg Catalog) (map[string]any, error) {
	var p problems
	cfgs := make(map[string]any, len(s.Vertices))
	for i, vx := range s.Vertices {
		path := fmt.Sprintf("vertices[%d]", i)
		def, ok := reg.Resolve(vx.Operator, len(s.Inputs(vx.ID)) == 0)
		if !ok {
			p.add(path+".operator", fmt.Sprintf("unknown operator %q", vx.Operator))
			continue
		}
		cfg, errs := def.DecodeConfig(vx.Config)
		for _, fe := range errs {
			fp := path + ".config"
			if fe.Field != "" {
				fp += "." + fe.Field
			}
			p.add(fp, fe.Msg)
		}
		cfgs[vx.ID] = cfg
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return cfgs, nil
}
